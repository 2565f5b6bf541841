"""Timing is the product: the client's numbers against a server whose timing is known."""

import pytest

from emulator.launch import start_emulator

from locust_run import read_jsonl, run_locust

pytestmark = pytest.mark.load


def test_ttft_and_itl_at_64_users_match_the_server(tmp_path):
    log, requests = tmp_path / "emulator.jsonl", tmp_path / "requests.jsonl"
    with start_emulator("--ttft-ms", "120", "--itl-ms", "7", "--log", str(log)) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "64", "-r", "64", "-t", "15s",
            "--max-tokens", "48", "--input-len", "64", "--request-log", str(requests), "TextChatUser",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = {r["request_id"]: r for r in read_jsonl(log) if r["outcome"] == "ok"}
    sent = read_jsonl(requests)
    assert summary["failed"] == 0 and summary["completed"] == len(served) == len(sent)
    assert summary["mean_itl_ms"] == pytest.approx(7, abs=0.5), summary
    assert summary["mean_tpot_ms"] == pytest.approx(7, abs=0.5), summary
    # The truth is what the server did: its own clock from the request's arrival to its first
    # content write. Its clock starts when its event loop reads the request, which lags behind
    # the wire while 64 first requests land at once, so the comparison starts after that burst.
    start = min(r["wall_start"] for r in sent)
    steady = [r for r in sent if r["wall_start"] - start > 1.0]
    client = sum(r["ttft_ms"] for r in steady) / len(steady)
    truth = sum(served[r["response"]["request_id"]]["ttft_served_ms"] for r in steady) / len(steady)
    assert truth == pytest.approx(120, abs=10)  # the emulator kept (close to) its plan
    assert client == pytest.approx(truth, abs=2), (client, truth)
    # Every request, the burst's included (where the server's clock starts late, so it is no
    # yardstick for their mean): no client TTFT may be shorter than the server's own (its first
    # write is stamped just after the write, and a busy machine may run it late: hence the allowance).
    assert all(r["ttft_ms"] >= served[r["response"]["request_id"]]["ttft_served_ms"] - 2 for r in sent)
    # The summary's mean is the mean of every request the log holds, burst included.
    assert summary["mean_ttft_ms"] == pytest.approx(sum(r["ttft_ms"] for r in sent) / len(sent), abs=1e-6)
    assert "LLM benchmark result" in proc.stdout
