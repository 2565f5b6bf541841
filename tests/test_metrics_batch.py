"""Batch figures: counted once per batch, shipped worker -> master as plain data, in the summary."""

from __future__ import annotations

import msgpack
import pytest

from batch.check import CheckReport
from batch.result import BatchResult
from metrics.batch import BatchMetrics
from metrics.collector import LlmMetrics
from metrics.report import format_table, summarize


def completed(turnaround: float, lines: int = 10, wall: float = 1000.0) -> BatchResult:
    check = CheckReport(ok=lines - 1, failed=1, input_tokens=50, output_tokens=20)
    return BatchResult(lines, batch_id="b", status="completed", outcome="completed", wall_created=wall,
                       wall_end=wall + turnaround, check=check,
                       seen={"validating": 0.0, "in_progress": 0.5, "finalizing": turnaround - 0.2,
                             "completed": turnaround})


def shipped(metrics: LlmMetrics) -> LlmMetrics:
    return LlmMetrics.from_dict(msgpack.unpackb(msgpack.packb(metrics.to_dict()), strict_map_key=False))


def test_outcomes_lines_and_turnaround_are_counted_per_batch():
    m = BatchMetrics()
    m.add(completed(2.0))
    m.add(completed(4.0, wall=1001.0))
    m.add(BatchResult(10, outcome="expired", status="expired", wall_created=1002.0, wall_end=1010.0,
                      check=CheckReport(ok=4, expired=6)))
    m.add(BatchResult(10, outcome="failed", status="failed",
                      server_errors=["invalid_json_line: line 2 is bad"]))
    m.add(BatchResult(10, outcome="error", error="upload: HTTP 413: file of 123456 bytes is too large"))
    s = m.summary()
    assert (s["batch_completed"], s["batch_expired"], s["batch_failed"], s["batch_error"]) == (2, 1, 1, 1)
    assert s["batch_cancelled"] == s["batch_stopped"] == 0
    assert s["mean_batch_turnaround_s"] == pytest.approx(3.0)
    assert s["p50_batch_turnaround_s"] == pytest.approx(3.0, rel=2e-3)
    assert s["p99_batch_turnaround_s"] == pytest.approx(3.98, rel=2e-3)
    assert s["mean_batch_lines_per_s"] == pytest.approx((10 / 2 + 10 / 4) / 2)
    assert s["batch_lines_sent"] == 50
    assert (s["batch_lines_completed"], s["batch_lines_failed"], s["batch_lines_expired"]) == (22, 2, 6)
    assert s["batch_lines_not_run"] == 20
    assert s["batch_line_throughput"] == pytest.approx(22 / 10)  # over 1000 .. 1010
    assert s["batch_time_to_state_s"]["in_progress"]["mean"] == pytest.approx(0.5)
    assert set(s["batch_time_to_state_s"]) == {"validating", "in_progress", "finalizing", "completed"}
    assert s["batch_failures"] == {"batch failed: invalid_json_line: line N is bad": 1,
                                   "upload: HTTP N: file of N bytes is too large": 1}


def test_a_batch_whose_files_do_not_check_out_is_counted_with_its_problem():
    check = CheckReport(ok=9)
    check.problem("custom_id not answered", "x")
    m = BatchMetrics()
    m.add(BatchResult(10, outcome="completed", status="completed", check=check, seen={"completed": 1.0}))
    s = m.summary()
    assert s["batch_completed"] == 1 and s["batch_check_failed"] == 1
    assert s["batch_failures"] == {"output check: custom_id not answered": 1}


def test_batch_figures_merge_after_a_trip_through_msgpack():
    worker_a, worker_b = LlmMetrics(), LlmMetrics()
    worker_a.add_batch(completed(2.0))
    worker_b.add_batch(completed(4.0))
    worker_b.add_batch(BatchResult(5, outcome="cancelled", status="cancelled", cancel_planned=True,
                                   check=CheckReport(ok=1, cancelled=4), seen={"cancelled": 1.5}))
    assert worker_b.requests == 2  # a worker with only batches still ships them
    master = LlmMetrics()
    master.merge(shipped(worker_a))
    master.merge(shipped(worker_b))
    s = summarize(master)
    assert (s["batch_completed"], s["batch_cancelled"]) == (2, 1)
    assert s["mean_batch_turnaround_s"] == pytest.approx(3.0)
    assert s["batch_lines_cancelled"] == 4 and s["batch_input_tokens"] == 100
    assert s["batch_time_to_state_s"]["cancelled"]["p50"] == pytest.approx(1.5)


def test_the_summary_has_batch_keys_only_when_the_run_had_batches():
    assert "batch_completed" not in summarize(LlmMetrics())
    assert "Batches:" not in format_table(summarize(LlmMetrics()))
    metrics = LlmMetrics()
    metrics.add_batch(completed(2.0))
    table = format_table(summarize(metrics))
    assert "Batches:                completed 1" in table
    assert "Turnaround (s):         mean 2.00" in table
    assert "Batch lines:            sent 10, completed 9, failed 1" in table
