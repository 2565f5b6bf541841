"""Timing is the product: the client's numbers against a server whose timing is known."""

import pytest

from emulator.launch import start_emulator

from locust_run import read_jsonl, run_locust

pytestmark = pytest.mark.load


def test_ttft_and_itl_at_64_users_match_the_server(tmp_path):
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "120", "--itl-ms", "7", "--log", str(log)) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "64", "-r", "64", "-t", "12s",
            "--max-tokens", "48", "--input-len", "64",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = [r for r in read_jsonl(log) if r["outcome"] == "ok"]
    assert summary["failed"] == 0 and summary["completed"] == len(served)
    # The truth is what the server did: its own clock from the request's arrival to the
    # first content write. On a loaded 2-core machine it can run late of its plan.
    truth = sum(r["ttft_served_ms"] for r in served) / len(served)
    assert truth == pytest.approx(120, abs=10)
    assert summary["mean_ttft_ms"] == pytest.approx(truth, abs=2), (truth, summary)
    assert summary["mean_itl_ms"] == pytest.approx(7, abs=0.5), summary
    assert summary["mean_tpot_ms"] == pytest.approx(7, abs=0.5), summary
    assert "LLM benchmark result" in proc.stdout
