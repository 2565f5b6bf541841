"""Per-second figures: where each request and token lands, merging workers, collapsing old seconds."""

from array import array

import msgpack
import pytest

from metrics.collector import LlmMetrics
from metrics.timeseries import TimeSeries
from streaming.record import RequestRecord

T0 = 1_800_000_000.0  # a wall-clock second


def record(cls="text", start=0.2, ttft=0.1, gaps=(0.3,) * 5, tokens=None, error=None):
    """A request sent at T0 + start whose token chunks arrive after ttft, then each gap."""
    times, t = array("d"), 100.0 + ttft
    for gap in (0.0, *gaps):
        t += gap
        times.append(t)
    rec = RequestRecord(cls, t_start=100.0, wall_start=T0 + start, t_first=times[0], t_end=times[-1] + 0.01,
                        token_times=times, error=error)
    rec.output_tokens = len(times) if tokens is None else tokens
    return rec


def test_a_request_counts_where_it_ended_and_its_tokens_where_they_arrived():
    series = TimeSeries()
    series.add(record())  # chunks at +0.3, 0.6, 0.9, 1.2, 1.5, 1.8 s: ends in second 1
    rows = {row["t"] - int(T0): row for row in series.rows()}
    assert rows[1]["requests"] == 1 and rows[0]["requests"] == 0
    assert rows[0]["output_tokens"] == 3 and rows[1]["output_tokens"] == 3
    assert rows[1]["ttft_p50_ms"] == pytest.approx(100, rel=1e-3)
    assert rows[1]["itl_p50_ms"] == pytest.approx(300, rel=1e-3)


def test_output_tokens_are_shared_by_chunks_and_sum_to_the_count():
    series = TimeSeries()
    series.add(record(gaps=(0.5,) * 3, tokens=10))  # 4 chunks carrying 10 tokens over seconds 0..1
    assert sum(row["output_tokens"] for row in series.rows()) == pytest.approx(10)


def test_failures_count_without_latencies():
    series = TimeSeries()
    series.add(record(error="HTTP 500: boom"))
    [row] = series.rows()
    assert row["failures"] == 1 and row["requests"] == 0 and row["ttft_p50_ms"] is None


def test_workers_merge_by_adding_and_in_flight_sums_across_workers():
    a, b, both = TimeSeries(), TimeSeries(), TimeSeries()
    for i, series in enumerate((a, b)):
        rec = record(start=0.1 * i)
        series.add(rec)
        both.add(rec)
        series.sample_in_flight(int(T0) + 1, {"text": 3})
    shipped = [TimeSeries.from_dict(msgpack.unpackb(msgpack.packb(s.to_dict()), strict_map_key=False))
               for s in (a, b)]
    merged = TimeSeries()
    for s in shipped:
        merged.merge(s)
    rows = merged.rows()
    assert [r["requests"] for r in rows] == [r["requests"] for r in both.rows()]
    assert rows[-1]["in_flight"] == 6
    assert rows[-1]["ttft_p95_ms"] == pytest.approx(both.rows()[-1]["ttft_p95_ms"])


def test_collapsing_old_seconds_keeps_their_percentiles_per_class_and_overall():
    series = TimeSeries()
    for i in range(20):
        series.add(record("text", ttft=0.05 + i / 1000))
        series.add(record("base64", ttft=0.2 + i / 1000))
    before = {cls: series.rows(cls) for cls in (None, "text", "base64")}
    series.collapse(T0 + 100)
    assert {cls: series.rows(cls) for cls in (None, "text", "base64")} == before
    assert all(slot.ttft is None for classes in series.slots.values() for slot in classes.values())


def test_the_metrics_carry_the_series_to_the_master():
    metrics = LlmMetrics()
    metrics.add(record())
    shipped = LlmMetrics.from_dict(msgpack.unpackb(msgpack.packb(metrics.to_dict()), strict_map_key=False))
    assert shipped.series.rows() == metrics.series.rows()
