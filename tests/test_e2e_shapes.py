"""Load shapes from options, no code: rate steps, user steps, and a warm-up left out of the figures."""

import pytest

from emulator.launch import start_emulator

from locust_run import read_jsonl, run_locust

pytestmark = pytest.mark.load


def test_rate_steps_change_the_rate_and_end_the_run(tmp_path):
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "20", "--itl-ms", "2", "--log", str(log)) as emulator:
        proc, summary = run_locust(emulator.url, tmp_path, "-u", "20", "-r", "100", "--max-tokens", "10",
                                   "--rate-steps", "5:4s,20:4s", "--seed", "2", "TextChatUser", timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    times = sorted(r["t_received"] for r in read_jsonl(log))
    first = sum(1 for t in times if t - times[0] < 3.5)  # the first step, users still starting
    assert len(times) == pytest.approx(5 * 4 + 20 * 4, rel=0.3)  # Poisson: 100 +- 10
    assert (len(times) - first) / 4.5 > 2 * first / 3.5  # the second step's rate is several times higher
    assert summary["duration"] < 12  # the run ended after the last step, without -t


def test_user_steps_change_the_users_in_flight(tmp_path):
    with start_emulator("--ttft-ms", "500", "--itl-ms", "10") as emulator:
        proc, summary = run_locust(emulator.url, tmp_path, "-u", "2", "-r", "10", "--max-tokens", "20",
                                   "--user-steps", "2:4s,6:4s", "TextChatUser", timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    in_flight = [r["in_flight"] for r in summary["time_series"]["all"]]
    assert max(in_flight[:3]) == 2 and max(in_flight) == 6


def test_a_warmup_is_left_out_of_every_figure(tmp_path):
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "20", "--itl-ms", "5", "--log", str(log)) as emulator:
        proc, summary = run_locust(emulator.url, tmp_path, "-u", "2", "-r", "2", "-t", "6s",
                                   "--max-tokens", "20", "--warmup", "3", "TextChatUser")
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = len(read_jsonl(log))
    assert summary["warmup_s"] == 3
    assert 0.3 * served < summary["completed"] < 0.7 * served  # about the last half of the run


def test_a_linear_ramp_raises_the_rate_over_the_run(tmp_path):
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "20", "--itl-ms", "2", "--log", str(log)) as emulator:
        proc, summary = run_locust(emulator.url, tmp_path, "-u", "30", "-r", "100", "-t", "8s",
                                   "--max-tokens", "10", "--ramp-up-strategy", "linear",
                                   "--ramp-up-start-rps", "2", "--ramp-up-end-rps", "30", "--seed", "4",
                                   "TextChatUser")
    assert proc.returncode == 0, proc.stderr[-3000:]
    times = sorted(r["t_received"] for r in read_jsonl(log))
    middle = times[0] + (times[-1] - times[0]) / 2
    early, late = sum(t < middle for t in times), sum(t >= middle for t in times)
    assert late > 2 * early  # mean rate 9/s in the first half, 23/s in the second
    assert len(times) == pytest.approx(16 * 8, rel=0.3)  # 2 -> 30 requests/s over 8 s: 128 on average
    assert summary["request_rate_target"] is None  # a shaped rate has no single target


def test_open_loop_works_with_every_user_class(tmp_path):
    with start_emulator("--ttft-ms", "20", "--itl-ms", "2") as emulator:
        proc, summary = run_locust(emulator.url, tmp_path, "-u", "16", "-r", "100", "-t", "6s",
                                   "--max-tokens", "10", "--request-rate", "16", "--think-time", "0.2",
                                   "TextChatUser", "ImageUrlChatUser", "Base64ImageChatUser",
                                   "MultiTurnChatUser")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("text", "image-url", "base64", "multi-turn"):
        figures = summary["per_class"][name]
        assert figures["completed"] > 0 and figures["failed"] == 0, name
        assert figures["count_ttft"] == figures["completed"] and figures["p99_queue_ms"] is not None, name
    assert len(summary["mean_ttft_ms_by_turn"]) > 1  # conversations went past their first turn
