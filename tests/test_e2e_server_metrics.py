"""``--server-metrics`` end to end: a headless run against the emulator puts the server's own figures
in the summary's ``server_metrics``, and a target without metrics costs one warning line."""

from __future__ import annotations

import pytest

from emulator.launch import start_emulator

from locust_run import run_locust

pytestmark = pytest.mark.load

USERS = 4


def first_reached(series: list[list[float]], level: int) -> float:
    return next(t for t, v in series if v >= level)


def test_running_max_is_the_users_and_its_series_climbs_with_the_spawn_rate(tmp_path):
    with start_emulator("--ttft-ms", "50", "--itl-ms", "10") as emu:
        proc, summary = run_locust(
            emu.url, tmp_path, "-u", str(USERS), "-r", "1", "-t", "7s", "--max-tokens", "200",
            "--input-len", "32", "--server-metrics", "auto", "--server-metrics-interval", "0.2",
            "--html", str(tmp_path / "report.html"), "TextChatUser",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    block = summary["server_metrics"]
    report = (tmp_path / "report.html").read_text()  # the HTML report charts them beside the client's
    for title in ("Server metrics", "Requests: server and client", "Server KV-cache usage",
                  "TTFT p50: server and client", "Output tokens/s: server and client"):
        assert title in report, title
    assert block["available"] is True and block["url"] == emu.url + "/metrics"
    running = block["vllm:num_requests_running"]
    assert running["max"] == USERS
    reached = [first_reached(running["series"], level) for level in range(1, USERS + 1)]
    gaps = [b - a for a, b in zip(reached, reached[1:], strict=False)]
    assert all(0.5 <= gap <= 1.6 for gap in gaps), (reached, running["series"])  # one user a second
    assert block["common"]["running"] == "vllm:num_requests_running"
    generated = block["vllm:generation_tokens_total"]["increase"]
    assert generated == pytest.approx(summary["total_output_tokens"], rel=0.05)


def test_a_target_without_metrics_is_one_warning_and_the_run_goes_on(tmp_path):
    with start_emulator("--ttft-ms", "10", "--itl-ms", "2") as emu:
        url = emu.url + "/no-metrics-here"
        proc, summary = run_locust(
            emu.url, tmp_path, "-u", "2", "-r", "2", "-t", "2s", "--max-tokens", "8", "--input-len", "16",
            "--server-metrics", url, "--server-metrics-interval", "0.2", "TextChatUser",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert summary["completed"] > 0 and summary["failed"] == 0
    assert summary["server_metrics"]["available"] is False
    assert summary["server_metrics"]["reason"] == "HTTP 404: Not Found"
    assert proc.stderr.count("LLM server metrics:") == 1, proc.stderr[-3000:]
