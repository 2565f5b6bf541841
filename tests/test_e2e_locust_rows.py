"""Locust's own rows keep their meaning with LLM traffic: Aggregated counts whole requests only."""

import csv

import pytest

from emulator.launch import start_emulator

from locust_run import run_locust

pytestmark = pytest.mark.load


def read_stats(prefix) -> dict[tuple[str, str], dict]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}


def test_aggregated_counts_requests_and_a_run_whose_retries_all_succeed_exits_0(tmp_path):
    prefix = tmp_path / "locust"
    with start_emulator("--fault", "http429=0.3", "--ttft-ms", "5", "--itl-ms", "1") as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "4", "-r", "4", "-t", "4s", "--max-tokens", "8",
            "--retries", "30", "--retry-max-wait", "0.01", "--csv", str(prefix),
            "TextChatUser", "MultiTurnChatUser",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_stats(prefix)
    posts = [row for (kind, _), row in rows.items() if kind == "POST"]
    aggregated = rows[("", "Aggregated")]
    assert len(posts) == 2
    requests = sum(int(row["Request Count"]) for row in posts)
    assert int(aggregated["Request Count"]) == requests == summary["completed"] + summary["failed"]
    assert int(aggregated["Failure Count"]) == sum(int(row["Failure Count"]) for row in posts)
    # TTFT and ITL rows are there, outside Aggregated; retried attempts are visible, not failures
    assert int(rows[("LLM", "TTFT [text]")]["Request Count"]) == summary["per_class"]["text"]["completed"]
    assert int(rows[("LLM", "ITL [text]")]["Request Count"]) > 0
    retry_rows = [row for (kind, _), row in rows.items() if kind == "RETRY"]
    assert sum(int(row["Request Count"]) for row in retry_rows) == summary["retries"] > 0
    assert all(int(row["Failure Count"]) == 0 for row in retry_rows)


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
