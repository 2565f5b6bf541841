"""The Batch API workload end to end: BatchUser against the emulator, reconciled with its batch list."""

from __future__ import annotations

import csv
import json
import urllib.request
from collections import Counter

import pytest

from emulator.launch import start_emulator

from locust_run import run_locust

pytestmark = pytest.mark.load


def emulator_batches(url: str) -> list[dict]:
    """Every batch the emulator holds, through its paged list."""
    batches, after = [], ""
    while True:
        query = f"?limit=100&after={after}" if after else "?limit=100"
        page = json.loads(urllib.request.urlopen(f"{url}/v1/batches{query}").read())  # noqa: S310 - loopback
        batches += page["data"]
        if not page["has_more"]:
            return batches
        after = page["last_id"]


def locust_rows(prefix) -> dict[tuple[str, str], dict]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}


def test_batches_completed_expired_and_cancelled_match_the_emulator_line_by_line(tmp_path):
    prefix = tmp_path / "locust"
    with start_emulator("--ttft-ms", "5", "--itl-ms", "1", "--batch-validate-ms", "50",
                        "--batch-line-ms", "20", "--batch-finalize-ms", "50", "--batch-expire-rate", "0.25",
                        "--batch-line-error-rate", "0.05") as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "2", "-r", "2", "-t", "6s", "--max-tokens", "8",
            "--input-len", "32", "--batch-lines", "10", "--batch-poll-interval", "0.1",
            "--batch-poll-max", "0.3", "--batch-cancel-share", "0.34", "--csv", str(prefix), "BatchUser",
            timeout=120,
        )
        served = emulator_batches(emulator.url)
    assert summary is not None, proc.stderr[-3000:]
    assert proc.returncode == 1, proc.stderr[-3000:]  # expired batches fail the run
    ends = Counter(b["status"] for b in served)
    assert set(ends) <= {"completed", "expired", "cancelled"}, ends  # every batch ended, stopped ones too
    # each batch counted once, as the emulator ended it; the stop's cleanup cancels are apart
    assert summary["batch_completed"] == ends["completed"] > 0
    assert summary["batch_expired"] == ends["expired"] > 0
    assert summary["batch_cancelled"] > 0
    assert summary["batch_cancelled"] + summary["batch_stopped"] == ends["cancelled"]
    assert summary["batch_failed"] == summary["batch_error"] == 0
    # every line sent is accounted for, as the emulator's request_counts say, and every file checked out
    counts = Counter()
    for batch in served:
        total, done, failed = (batch["request_counts"][k] for k in ("total", "completed", "failed"))
        counts.update({"sent": total, "completed": done, "failed": failed,
                       f"not run, {batch['status']}": total - done - failed})
    assert summary["batch_lines_sent"] == counts["sent"] == 10 * len(served)
    assert summary["batch_lines_completed"] == counts["completed"]
    assert summary["batch_lines_failed"] == counts["failed"] > 0
    assert summary["batch_lines_expired"] == counts["not run, expired"] > 0
    assert summary["batch_lines_cancelled"] == counts["not run, cancelled"] > 0
    assert summary["batch_lines_missing"] == summary["batch_lines_not_run"] == 0
    assert summary["batch_check_failed"] == 0, summary["batch_failures"]
    assert summary["batch_output_tokens"] == 8 * counts["completed"]
    # turnaround: validating 50 ms + 10 lines x 20 ms + finalizing 50 ms, seen by polls 0.1-0.3 s apart
    assert 0.3 <= summary["p50_batch_turnaround_s"] <= 0.3 + 0.35
    assert summary["batch_time_to_state_s"]["in_progress"]["mean"] < summary["mean_batch_turnaround_s"]
    # Locust's rows: the work calls in Aggregated; polls and whole batches in rows of their own
    rows = locust_rows(prefix)
    work = [row for (kind, _), row in rows.items() if kind in ("POST", "GET")]
    assert int(rows[("", "Aggregated")]["Request Count"]) == sum(int(row["Request Count"]) for row in work)
    assert int(rows[("POST", "/v1/batches [batch]")]["Request Count"]) == len(served)
    assert int(rows[("POLL", "/v1/batches/{id} [batch]")]["Request Count"]) > len(served)
    turnaround = rows[("BATCH", "turnaround [batch]")]
    assert int(turnaround["Request Count"]) == ends["completed"]
    assert int(turnaround["Failure Count"]) == ends["expired"]
    assert int(rows[("BATCH", "cancel [batch]")]["Request Count"]) == summary["batch_cancelled"]
    assert "Batches:" in proc.stdout


def test_a_run_that_names_no_class_sends_no_batch(tmp_path):
    with start_emulator("--ttft-ms", "5", "--itl-ms", "1") as emulator:
        proc, summary = run_locust(emulator.url, tmp_path, "-u", "6", "-r", "6", "-t", "2s",
                                   "--max-tokens", "4")
        served = emulator_batches(emulator.url)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert served == [] and "batch_completed" not in summary and summary["completed"] > 0
    assert "batch" not in summary["per_class"]
