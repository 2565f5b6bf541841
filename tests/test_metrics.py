"""Distributions and the summary: no network, no Locust."""

import random

import msgpack
import numpy as np
import pytest

from metrics.collector import LlmMetrics
from metrics.distribution import Distribution
from metrics.report import format_table, summarize
from streaming.record import RequestRecord


def sample(n: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.uniform(0.004, 0.006), 6) for _ in range(n)]


def test_percentiles_match_numpy_where_locust_buckets_would_not():
    values = sample(5000)
    dist = Distribution()
    dist.extend(values)
    got = dist.percentiles()
    for q in (50, 90, 95, 99):
        assert got[q] == pytest.approx(np.percentile(values, q), rel=1e-3)
    assert dist.mean == pytest.approx(np.mean(values))
    assert dist.std == pytest.approx(np.std(values), rel=1e-6)


def test_sub_millisecond_gaps_are_not_rounded_to_zero():
    dist = Distribution()
    dist.extend([0.00025, 0.00035, 0.00045])
    assert dist.summary_ms()["median"] == pytest.approx(0.35, rel=1e-3)


def test_merged_distributions_equal_one_built_from_all_samples():
    a, b, both = Distribution(), Distribution(), Distribution()
    xs, ys = sample(300, 2), sample(700, 3)
    a.extend(xs)
    b.extend(ys)
    both.extend(xs + ys)
    shipped = Distribution.from_dict(msgpack.unpackb(msgpack.packb(b.to_dict()), strict_map_key=False))
    a.merge(shipped)
    assert a.percentiles() == both.percentiles()
    assert a.n == 1000 and a.mean == pytest.approx(both.mean)


def record(cls: str, ok: bool = True, start: float = 0.0) -> RequestRecord:
    r = RequestRecord(cls, t_start=start, wall_start=1000.0 + start, payload_tokens=10)
    if ok:
        r.t_first = start + 0.1
        r.token_times.extend([start + 0.1, start + 0.11, start + 0.12])
        r.t_end = start + 0.12
        r.output_tokens, r.output_tokens_source, r.input_tokens = 3, "usage", 10
    else:
        r.t_end = start + 0.05
        r.error = "HTTP 500: boom"
    return r


def test_summary_has_vllm_keys_and_counts_every_request_once():
    metrics = LlmMetrics()
    for i in range(4):
        metrics.add(record("text", start=i))
    metrics.add(record("base64", ok=False, start=1.5))
    shipped = LlmMetrics.from_dict(msgpack.unpackb(msgpack.packb(metrics.to_dict()), strict_map_key=False))
    s = summarize(shipped)
    assert s["completed"] == 4 and s["failed"] == 1 and s["failures"] == {"HTTP 500: boom": 1}
    assert s["duration"] == pytest.approx(3.12)
    assert s["total_output_tokens"] == 12 and s["total_input_tokens"] == 40
    assert s["mean_ttft_ms"] == pytest.approx(100.0)
    assert s["mean_itl_ms"] == pytest.approx(10.0) and s["count_itl"] == 8
    assert s["mean_tpot_ms"] == pytest.approx(10.0)
    for key in ("request_throughput", "output_throughput", "total_token_throughput",
                "median_e2el_ms", "std_ttft_ms", "p99_itl_ms", "p95_tpot_ms", "p90_e2el_ms"):
        assert key in s
    assert s["per_class"]["base64"]["failed"] == 1 and s["per_class"]["text"]["completed"] == 4
    table = format_table(s)
    assert "TTFT" in table and "base64" in table and "HTTP 500: boom" in table


def test_ttft_is_reported_per_conversation_turn():
    metrics = LlmMetrics()
    for turn, ttft in ((0, 0.1), (1, 0.3), (1, 0.5)):
        r = record("multi-turn")
        r.turn, r.t_first = turn, ttft
        r.token_times[0] = ttft
        metrics.add(r)
    s = summarize(metrics)
    assert s["mean_ttft_ms_by_turn"] == {0: pytest.approx(100.0), 1: pytest.approx(400.0)}
    assert "turn 1: 400.00" in format_table(s)
