"""TLS against the emulator serving HTTPS with certificates from a test CA (trustme).

Verification is on by default and fails with a reason that names the flags; ``--ca-cert``
trusts a private CA; ``--insecure`` really turns verification off (geventhttpclient ignored it);
the start-up probe goes through the same context.
"""

import dataclasses

import pytest
import trustme
from test_transport_client import Recorder

from conf.settings import Settings, SettingsError
from conf.target import Target
from emulator.launch import start_emulator
from plugin.runtime import probe_target
from streaming.record import RequestRecord
from transport.client import ChatClient
from transport.http import StreamingHttp

BODY = {"model": "emulator", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": True}


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    authority = trustme.CA()
    folder = tmp_path_factory.mktemp("tls")
    authority.cert_pem.write_to_path(folder / "ca.pem")
    return authority, folder


def serve_with(ca, names, stem):
    authority, folder = ca
    cert = authority.issue_cert(*names)
    cert.private_key_pem.write_to_path(folder / f"{stem}.key")
    cert.cert_chain_pems[0].write_to_path(folder / f"{stem}.pem")
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(folder / f"{stem}.pem", append=True)
    return start_emulator("--ttft-ms", "0", "--itl-ms", "1", "--tls-cert", str(folder / f"{stem}.pem"),
                          "--tls-key", str(folder / f"{stem}.key"))


@pytest.fixture(scope="module")
def good(ca):
    with serve_with(ca, ("127.0.0.1", "localhost"), "good") as emu:
        yield emu.url


@pytest.fixture(scope="module")
def wrong_name(ca):
    with serve_with(ca, ("other.example",), "wrong") as emu:
        yield emu.url


def send(url, **tls):
    http = StreamingHttp(Target.parse(url), {}, connect_timeout=5, **tls)
    client = ChatClient(http, Recorder(), idle_timeout=5)
    record = client.send("/v1/chat/completions", BODY, RequestRecord("text"))
    return record, http


def test_the_emulator_announces_https(good):
    assert good.startswith("https://127.0.0.1:")


def test_verified_against_the_private_ca_streams_with_kernel_stamps(good, ca):
    record, http = send(good, ca_cert=str(ca[1] / "ca.pem"))
    assert record.ok, record.error
    assert len(record.token_times) == 4 and record.ttft > 0
    assert http.socket.tls_version.startswith("TLS") and http.socket.kernel_stamps
    second = ChatClient(http, Recorder()).send("/v1/chat/completions", BODY, RequestRecord("text"))
    assert second.ok and http.reused  # the TLS connection was kept alive


def test_verification_is_on_by_default_and_says_which_flags_change_it(good):
    record, _ = send(good)
    assert record.error.startswith("TLS error: certificate verify failed: "), record.error
    assert "--ca-cert FILE" in record.error and "--insecure" in record.error


def test_a_certificate_for_another_name_fails_verification(wrong_name, ca):
    record, _ = send(wrong_name, ca_cert=str(ca[1] / "ca.pem"))
    assert record.error.startswith("TLS error: certificate verify failed: "), record.error
    assert "mismatch" in record.error


def test_insecure_really_turns_verification_off(wrong_name):
    record, _ = send(wrong_name, verify_tls=False)
    assert record.ok, record.error


def test_the_probe_uses_the_same_tls_settings(good, ca):
    settings = Settings(target=Target.parse(good), model="", endpoint="/v1/chat/completions")
    with pytest.raises(SettingsError) as info:
        probe_target(settings)
    assert str(info.value).startswith(f"--host {settings.target}: TLS error: certificate verify failed")
    assert probe_target(dataclasses.replace(settings, ca_cert=str(ca[1] / "ca.pem"))) == "emulator"
    assert probe_target(dataclasses.replace(settings, verify_tls=False)) == "emulator"
