"""Master and workers: the master's summary counts every request the workers sent, even the last."""

import time

import pytest

from emulator.launch import start_emulator

from locust_run import read_jsonl, run_locust

pytestmark = pytest.mark.load


def test_master_summary_includes_the_workers_last_requests(tmp_path):
    log = tmp_path / "emulator.jsonl"
    # 2 s streams: at the stop every user is mid-stream, the case a plain master loses
    with start_emulator("--ttft-ms", "50", "--itl-ms", "20", "--log", str(log)) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "8", "-r", "8", "-t", "5s", "--max-tokens", "100",
            "--processes", "2", "TextChatUser",
        )
        time.sleep(0.5)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = read_jsonl(log)
    assert summary["completed"] == len(served) >= 16 and summary["failed"] == 0
    assert summary["count_ttft"] == len(served)
    assert summary["count_itl"] == 99 * len(served)
    assert summary["mean_itl_ms"] == pytest.approx(20, abs=1)
