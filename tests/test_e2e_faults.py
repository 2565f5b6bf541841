"""The fault matrix: every emulator fault at 10 %, reconciled exactly with the emulator's log."""

import time
from collections import Counter

import pytest

from emulator.launch import start_emulator

from locust_run import read_jsonl, run_locust

pytestmark = pytest.mark.load

FAULTS = ("http500", "http429", "http503", "cut", "malformed", "stall", "no_done", "no_finish",
          "error_in_stream", "empty_choices")
# The client's grouped reason for each fault; no_done is a success (some servers never send [DONE]).
REASONS = {
    "http500": "HTTP 500: emulated internal server error",
    "http429": "HTTP 429: emulated rate limit",
    "http503": "HTTP 503: emulated overload",
    "cut": "connection closed mid-response",
    "malformed": "malformed JSON in stream chunk",
    "stall": "timeout: no bytes for 0.5 s",
    "no_finish": "stream ended without finish_reason",
    "error_in_stream": "error in stream: emulated error in the middle of the stream",
    "empty_choices": "empty response: no content",
}
STALL_S = 2.0


def test_every_fault_is_one_classified_failure_and_counts_match_the_emulator(tmp_path):
    log, requests = tmp_path / "emulator.jsonl", tmp_path / "requests.jsonl"
    faults = [arg for name in FAULTS for arg in ("--fault", f"{name}=0.1")]
    with start_emulator(*faults, "--ttft-ms", "0", "--itl-ms", "0", "--stall-s", str(STALL_S),
                        "--log", str(log)) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "32", "-r", "32", "-t", "8s", "--max-tokens", "8",
            "--input-len", "16", "--idle-timeout", "0.5", "--request-log", str(requests), "TextChatUser",
        )
        time.sleep(STALL_S + 0.5)  # stalled requests the client gave up on end (and are logged) now
    assert proc.returncode == 1, proc.stderr[-3000:]  # Locust's exit code when requests failed
    assert "Traceback" not in proc.stderr + proc.stdout
    served = Counter(r["outcome"] for r in read_jsonl(log))
    served["stall"] += served.pop("client_disconnected", 0)  # the client hung up on the stall
    assert set(served) == set(FAULTS), served
    total = summary["completed"] + summary["failed"]
    assert total == sum(served.values()) >= 2000
    assert summary["completed"] == served["no_done"]
    assert summary["failures"] == {REASONS[name]: served[name] for name in REASONS}
    assert len(read_jsonl(requests)) == total


@pytest.mark.parametrize("drain", ["0", "30"])
def test_requests_in_flight_at_stop_are_finished_or_cancelled_and_counted_once(tmp_path, drain):
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "50", "--itl-ms", "20", "--log", str(log)) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "4", "-r", "4", "-t", "3s", "--max-tokens", "100",
            "--drain-timeout", drain, "TextChatUser",
        )
        time.sleep(0.5)
    served = read_jsonl(log)
    assert summary["completed"] + summary["failed"] == len(served) >= 4
    if drain == "0":  # every user was mid-stream at the stop (each request takes ~2 s)
        assert summary["failures"] == {"cancelled: test stopped mid-request": 4}
        assert Counter(r["outcome"] for r in served)["client_disconnected"] == 4
    else:
        assert summary["failed"] == 0 and proc.returncode == 0


def test_retries_of_429_are_counted_apart_and_reconcile_with_the_emulator(tmp_path):
    log, requests = tmp_path / "emulator.jsonl", tmp_path / "requests.jsonl"
    with start_emulator("--fault", "http429=0.3", "--ttft-ms", "0", "--itl-ms", "0",
                        "--log", str(log)) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "4", "-r", "4", "-t", "4s", "--max-tokens", "8",
            "--retries", "3", "--retry-max-wait", "0.05", "--request-log", str(requests), "TextChatUser",
        )
    served = Counter(r["outcome"] for r in read_jsonl(log))
    lines = read_jsonl(requests)
    retried = [line for line in lines if line["retried"]]
    assert summary["retries"] == len(retried) > 0
    gave_up = summary["failures"].get("HTTP 429: emulated rate limit", 0)  # still 429 after 3 retries
    assert served["http429"] == summary["retries"] + gave_up
    # a request waiting for its retry when the run stopped is not sent again: counted, never served
    unsent = summary["failures"].get("cancelled: test stopped before a retry was sent", 0)
    assert summary["failed"] == gave_up + unsent
    assert summary["completed"] + summary["failed"] + summary["retries"] == len(lines)
    assert summary["completed"] + gave_up + summary["retries"] == sum(served.values())
    assert summary["completed"] == served["ok"]
