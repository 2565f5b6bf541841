"""The pre-flight check of the target and ``--model``, against the emulator's /v1/models."""

import dataclasses

import pytest
from gevent.server import StreamServer

from conf.settings import Settings, SettingsError
from emulator.launch import start_emulator
from plugin.runtime import check_model, probe_target
from transport.http import Target

from locust_run import run_locust


def settings(url: str, model: str = "") -> Settings:
    return Settings(target=Target.parse(url), model=model, endpoint="/v1/chat/completions")


@pytest.fixture(scope="module")
def served():
    with start_emulator("--ttft-ms", "0", "--itl-ms", "0", "--model", "qwen3-tiny") as emu:
        yield emu.url


def test_the_listed_model_is_returned_and_a_listed_name_passes(served):
    assert probe_target(settings(served)) == "qwen3-tiny"
    assert probe_target(settings(served, "qwen3-tiny")) == "qwen3-tiny"


def test_a_model_the_server_does_not_list_is_one_line_naming_the_listed_ones(served):
    with pytest.raises(SettingsError) as info:
        probe_target(settings(served, "qwen3"))
    message = str(info.value)
    assert message.startswith("--model qwen3: ") and "serves qwen3-tiny" in message and "\n" not in message


def test_an_empty_model_list_without_model_says_what_such_servers_expect():
    with start_emulator("--ttft-ms", "0", "--itl-ms", "0", "--no-models-list") as emu:
        assert probe_target(settings(emu.url, "/models/qwen3-tiny")) is None  # cannot check: goes on
        with pytest.raises(SettingsError) as info:
            probe_target(settings(emu.url))
    message = str(info.value)
    assert "lists no model" in message and "transformers serve: the model's local path" in message


def answering(statuses: dict[bytes, int]) -> StreamServer:
    """A loopback server answering each GET path with its status (and an empty JSON body)."""

    def handle(sock, _addr):
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        status = statuses[data.split(b" ")[1]]
        sock.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                     % status)

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    return server


@pytest.mark.parametrize(("health", "ready"), [(503, False), (200, True), (404, True)])
def test_a_server_still_loading_is_not_ready_in_one_line(health, ready):
    server = answering({b"/v1/models": 503, b"/health": health})
    try:
        probe = settings(f"http://127.0.0.1:{server.server_port}", "m")
        if ready:  # /health says it is up (or there is none): the requests will say the rest
            assert probe_target(probe) is None
            return
        with pytest.raises(SettingsError) as info:
            probe_target(probe)
    finally:
        server.stop()
    message = str(info.value)
    assert "not ready: /v1/models answered HTTP 503 and /health HTTP 503" in message and "\n" not in message


def test_a_name_with_a_revision_suffix_matches_and_long_lists_are_cut():
    base = settings("http://127.0.0.1:9", "/models/qwen3-tiny")
    check_model(base, ["/models/qwen3-tiny@main"])
    with pytest.raises(SettingsError) as info:
        check_model(dataclasses.replace(base, model="other"), [f"m{i}" for i in range(25)])
    assert "m9 and 15 more" in str(info.value)


def test_locust_with_a_wrong_model_exits_2_with_one_line_before_any_request(served, tmp_path):
    proc, summary = run_locust(served, tmp_path, "-u", "1", "-t", "2s", "--model", "qwen3", "TextChatUser")
    assert proc.returncode == 2 and summary is None
    errors = [line for line in proc.stderr.splitlines() if "--model qwen3" in line]
    assert len(errors) == 1 and f"{served} serves qwen3-tiny" in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
