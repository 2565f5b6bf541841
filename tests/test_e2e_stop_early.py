"""A run whose requests can only fail stops early, with one line and exit code 5."""

import pytest

from emulator.launch import start_emulator

from locust_run import run_locust

pytestmark = pytest.mark.load


@pytest.mark.parametrize("processes", [None, "2"], ids=["local", "distributed"])
def test_every_request_refused_alike_stops_the_run_early(tmp_path, processes):
    # a prompt longer than the emulator's context: every request gets the same 400
    with start_emulator("--context-len", "64", "--ttft-ms", "0", "--itl-ms", "0") as emulator:
        extra = ["--processes", processes] if processes else []
        proc, summary = run_locust(emulator.url, tmp_path, "-u", "4", "-r", "4", "-t", "60s",
                                   "--input-len", "256", *extra, "TextChatUser", timeout=90)
    assert proc.returncode == 5, proc.stderr[-3000:]
    assert "stopping early: " in proc.stderr and "Traceback" not in proc.stderr
    assert summary["completed"] == 0 and summary["failed"] >= 20
    assert summary["duration"] < 30  # it did not wait for -t
