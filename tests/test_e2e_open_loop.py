"""Open-loop load: the request rate holds whatever the latency, and a client that cannot keep up says so."""

import statistics

import pytest

from emulator.launch import start_emulator

from locust_run import read_jsonl, run_locust

pytestmark = pytest.mark.load

SLOW = ("--ttft-ms", "1000", "--itl-ms", "10")  # each reply takes ~2 s (100 tokens)


def arrival_gaps(log) -> list[float]:
    times = sorted(r["t_received"] for r in read_jsonl(log))
    return [b - a for a, b in zip(times, times[1:], strict=False)]


@pytest.mark.parametrize(("burstiness", "cv"), [("1", 1.0), ("4", 0.5)], ids=["poisson", "gamma-4"])
def test_a_request_rate_holds_whatever_the_latency_with_gamma_gaps(tmp_path, burstiness, cv):
    log = tmp_path / "emulator.jsonl"
    with start_emulator(*SLOW, "--log", str(log)) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "80", "-r", "80", "-t", "12s", "--max-tokens", "100",
            "--request-rate", "20", "--burstiness", burstiness, "--seed", "1", "TextChatUser",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    gaps = arrival_gaps(log)
    assert statistics.mean(gaps) == pytest.approx(1 / 20, rel=0.05)  # closed loop would send ~40/s
    assert statistics.stdev(gaps) / statistics.mean(gaps) == pytest.approx(cv, abs=0.15)
    assert summary["request_rate_target"] == 20 and summary["kept_up"] is True
    assert summary["completed"] == len(gaps) + 1
    assert summary["p99_queue_ms"] < 50  # a free user took every arrival at once


def test_users_that_cannot_keep_up_show_it_in_queue_time_and_achieved_rate(tmp_path):
    with start_emulator(*SLOW) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "4", "-r", "4", "-t", "8s", "--max-tokens", "100",
            "--request-rate", "20", "--seed", "1", "TextChatUser",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert summary["kept_up"] is False
    assert summary["request_rate_achieved"] < 5  # 4 users, 2 s each: ~2 requests/s
    assert summary["p99_queue_ms"] > 2000  # arrivals waited for a free user, and it shows
    assert "could not keep up" in proc.stderr


def test_the_rate_is_split_across_workers_and_their_arrivals_merge_to_it(tmp_path):
    log = tmp_path / "emulator.jsonl"
    with start_emulator(*SLOW, "--log", str(log)) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "80", "-r", "80", "-t", "12s", "--max-tokens", "100",
            "--request-rate", "20", "--seed", "1", "--processes", "2", "TextChatUser",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    gaps = arrival_gaps(log)
    assert statistics.mean(gaps) == pytest.approx(1 / 20, rel=0.07)  # 10/s each, 20/s merged
    assert statistics.stdev(gaps) / statistics.mean(gaps) == pytest.approx(1.0, abs=0.15)  # still Poisson
    assert summary["workers_reported"] == 2 and summary["kept_up"] is True
