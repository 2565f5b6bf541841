"""Locust's own rows keep their meaning with LLM traffic: Aggregated counts whole requests only."""

import re

import pytest

from emulator.launch import start_emulator

from locust_run import run_locust

pytestmark = pytest.mark.load


def final_table(stderr: str) -> dict[tuple[str, str], tuple[int, int]]:
    """Locust's stats table printed at shutdown (after the drain): (type, name) -> (requests, fails)."""
    end = stderr.rindex("Response time percentiles")
    table = stderr[stderr.rindex("Type     Name", 0, end):end]
    rows = {}
    for line in table.splitlines():
        match = re.match(r"(\w*)\s+(.+?)\s+(\d+)\s+(\d+)\(", line)
        if match:
            rows[(match[1], match[2].strip())] = (int(match[3]), int(match[4]))
    return rows


def test_aggregated_counts_requests_and_a_run_whose_retries_all_succeed_exits_0(tmp_path):
    with start_emulator("--fault", "http429=0.3", "--ttft-ms", "5", "--itl-ms", "1") as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "4", "-r", "4", "-t", "4s", "--max-tokens", "8",
            "--retries", "30", "--retry-max-wait", "0.01",
            "TextChatUser", "MultiTurnChatUser",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = final_table(proc.stderr)
    posts = [row for (kind, _), row in rows.items() if kind == "POST"]
    assert len(posts) == 2
    requests, failures = sum(n for n, _ in posts), sum(f for _, f in posts)
    assert rows[("", "Aggregated")] == (requests, failures)
    assert requests == summary["completed"] + summary["failed"]
    # TTFT and ITL rows are there, outside Aggregated; retried attempts are visible, not failures
    assert rows[("LLM", "TTFT [text]")][0] == summary["per_class"]["text"]["completed"]
    assert rows[("LLM", "ITL [text]")][0] > 0
    retry_rows = [row for (kind, _), row in rows.items() if kind == "RETRY"]
    assert sum(n for n, _ in retry_rows) == summary["retries"] > 0
    assert all(f == 0 for _, f in retry_rows)

def test_the_summary_time_series_adds_up_to_the_summary(tmp_path):
    with start_emulator("--ttft-ms", "20", "--itl-ms", "10") as emulator:
        proc, summary = run_locust(emulator.url, tmp_path, "-u", "4", "-r", "4", "-t", "5s",
                                   "--max-tokens", "30", "TextChatUser")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = summary["time_series"]["all"]
    assert sum(r["requests"] for r in rows) == summary["completed"]
    assert sum(r["output_tokens"] for r in rows) == pytest.approx(summary["total_output_tokens"])
    assert max(r["in_flight"] for r in rows) == 4  # every user is mid-request at each sample
    assert [r["t"] for r in rows] == sorted(r["t"] for r in rows)
    middle = rows[len(rows) // 2]
    assert middle["ttft_p50_ms"] == pytest.approx(20, abs=5)
    assert middle["itl_p50_ms"] == pytest.approx(10, abs=2)
