"""Every way a user stops a run counts each request exactly once, as the emulator served it.

Real signals to a real ``locust`` process, while every user is mid-stream: Ctrl-C (SIGINT
to the process group, as a terminal sends it), SIGTERM (how a pod and a cancelled CI job
stop), locally and with ``--processes 2`` (a master and two workers).
"""

import os
import signal
import time
from collections import Counter

import pytest

from emulator.launch import start_emulator

from locust_run import output, read_jsonl, read_summary, start_headless, wait_for_lines

pytestmark = pytest.mark.load

USERS = 8
# 100 tokens 20 ms apart: each request streams ~2 s, so at any moment every user is mid-stream.
STREAM = ("--ttft-ms", "50", "--itl-ms", "20")


def stop_mid_stream(tmp_path, sig, *args, group=True, emulator_args=()):
    """Run without -t until the first round of requests is served, signal mid-stream, wait for exit."""
    log = tmp_path / "emulator.jsonl"
    with start_emulator(*STREAM, *emulator_args, "--log", str(log)) as emulator:
        proc = start_headless(emulator.url, tmp_path, "-u", str(USERS), "-r", str(USERS),
                              "--max-tokens", "100", *args, "TextChatUser")
        try:
            wait_for_lines(log, USERS)
            time.sleep(1.0)  # every user is now in the middle of its second request
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
            code = proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
        time.sleep(0.3)
    stdout, stderr = output(tmp_path)
    return code, read_summary(tmp_path), read_jsonl(log), stdout, stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_mid_stream_drains_and_counts_every_request_the_server_served(tmp_path, sig):
    code, summary, served, stdout, stderr = stop_mid_stream(tmp_path, sig)
    assert code == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert summary is not None, "no summary written"
    assert summary["failed"] == 0
    assert summary["completed"] == len(served) >= 2 * USERS  # the in-flight round finished too
    assert Counter(r["outcome"] for r in served) == {"ok": len(served)}
    assert "LLM benchmark result" in stdout


@pytest.mark.parametrize(
    ("sig", "group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c-group", "sigterm-master"]
)
def test_a_signal_to_a_master_and_two_workers_counts_every_request(tmp_path, sig, group):
    code, summary, served, stdout, stderr = stop_mid_stream(tmp_path, sig, "--processes", "2", group=group)
    assert code == 0, stderr[-3000:]
    assert summary is not None, "no summary written: " + stderr[-3000:]
    assert summary["failed"] == 0
    assert summary["completed"] == len(served) >= 2 * USERS
    assert summary["workers_reported"] == 2


def test_a_retry_waiting_at_the_stop_is_counted_once_and_never_sent(tmp_path):
    """Every attempt the emulator answered is a success, a retried attempt, or a failure."""
    code, summary, served, _, stderr = stop_mid_stream(
        tmp_path, signal.SIGINT, "--retries", "20", "--retry-max-wait", "5",
        emulator_args=("--fault", "http429=0.5"),
    )
    assert summary is not None, stderr[-3000:]
    outcomes = Counter(r["outcome"] for r in served)
    assert summary["completed"] == outcomes["ok"]
    gave_up = summary["failures"].get("HTTP 429: emulated rate limit", 0)
    assert summary["retries"] + gave_up == outcomes["http429"]
    cancelled = summary["failures"].get("cancelled: test stopped before a retry was sent", 0)
    assert cancelled > 0  # the 429 answers carry Retry-After: 1 s, so some wait at the stop
    assert summary["failed"] == cancelled + gave_up
    assert code == 0  # a request the stop cancelled does not fail the run
