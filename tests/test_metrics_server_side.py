"""Reasoning and server-side timings in the summary: TTFO beside TTFT, the server beside the client."""

import msgpack
import pytest

from metrics.collector import LlmMetrics
from metrics.report import format_table, summarize
from streaming.record import RequestRecord


def reasoning_record(start: float, reasoning: int = 3, answer: int = 2) -> RequestRecord:
    """``reasoning`` reasoning chunks then ``answer`` answer chunks, 10 ms apart, first at +100 ms."""
    r = RequestRecord("text", t_start=start, wall_start=1000.0 + start)
    times = [start + 0.1 + 0.01 * i for i in range(reasoning + answer)]
    r.token_times.extend(times)
    r.t_first, r.t_end, r.finish_reason = times[0], times[-1], "stop"
    r.reasoning_parts.extend(["r"] * reasoning)
    r.text_parts.extend(["a"] * answer)
    r.first_answer = reasoning if answer else -1
    r.output_tokens, r.output_tokens_source = reasoning + answer, "usage"
    r.reasoning_tokens, r.reasoning_tokens_source = reasoning, "usage"
    return r


def mindie_record(start: float, prefill_ms: float = 90.0) -> RequestRecord:
    r = reasoning_record(start, reasoning=0, answer=4)
    r.reasoning_tokens, r.reasoning_tokens_source = 0, ""
    r.server_prefill_ms, r.server_decode_ms = prefill_ms, [9.0, 9.5, 10.0]
    r.full_text = "aaaa"
    return r


def shipped(metrics: LlmMetrics) -> LlmMetrics:
    """As a worker's metrics reach the master."""
    return LlmMetrics.from_dict(msgpack.unpackb(msgpack.packb(metrics.to_dict()), strict_map_key=False))


def test_ttfo_and_reasoning_tokens_are_reported_beside_ttft_and_output_tokens():
    metrics = LlmMetrics()
    for i in range(4):
        metrics.add(reasoning_record(float(i)))
    s = summarize(shipped(metrics))
    assert s["mean_ttft_ms"] == pytest.approx(100.0) and s["mean_ttfo_ms"] == pytest.approx(130.0)
    assert s["p50_ttfo_ms"] == pytest.approx(130.0, rel=1e-3) and s["count_ttfo"] == 4
    assert (s["total_output_tokens"], s["total_reasoning_tokens"], s["total_answer_tokens"]) == (20, 12, 8)
    assert s["reasoning_tokens_source"] == {"usage": 4}
    assert s["per_class"]["text"]["total_reasoning_tokens"] == 12
    table = format_table(s)
    assert "TTFO (answer)" in table and "Reasoning tokens (of output):" in table


def test_a_request_spent_thinking_has_no_ttfo_but_its_reasoning_counts():
    metrics = LlmMetrics()
    metrics.add(reasoning_record(0.0, reasoning=4, answer=0))
    s = summarize(metrics)
    assert s["count_ttfo"] == 0 and s["mean_ttfo_ms"] is None and s["count_ttft"] == 1
    assert s["total_reasoning_tokens"] == 4 and s["total_answer_tokens"] == 0


def test_server_prefill_and_itl_are_reported_beside_the_clients():
    metrics = LlmMetrics()
    for i, prefill in enumerate((90.0, 95.0)):
        metrics.add(mindie_record(float(i), prefill))
    s = summarize(shipped(metrics))
    assert s["mean_server_prefill_ms"] == pytest.approx(92.5) and s["count_server_prefill"] == 2
    assert s["mean_ttft_minus_server_prefill_ms"] == pytest.approx(100.0 - 92.5)
    assert s["p99_ttft_minus_server_prefill_ms"] == pytest.approx(10.0, rel=1e-2)
    assert s["mean_server_itl_ms"] == pytest.approx(9.5) and s["count_server_itl"] == 6
    assert s["p50_server_itl_ms"] == pytest.approx(9.5, rel=1e-3)
    assert (s["full_text_checked"], s["full_text_differs"]) == (2, 0)
    table = format_table(s)
    assert "Server prefill" in table and "TTFT - server" in table and "Server ITL" in table
    assert "TTFO" not in table  # no reasoning: TTFO is TTFT, no row of its own


def test_without_server_timings_the_keys_are_null_and_no_row_is_shown():
    metrics = LlmMetrics()
    metrics.add(reasoning_record(0.0, reasoning=0, answer=3))
    s = summarize(metrics)
    for name in ("server_prefill", "server_itl", "ttft_minus_server_prefill"):
        assert s[f"mean_{name}_ms"] is None and s[f"p99_{name}_ms"] is None and s[f"count_{name}"] == 0
    assert s["mean_ttfo_ms"] == pytest.approx(s["mean_ttft_ms"])
    assert "full_text_checked" not in s
    assert "Server" not in format_table(s)


def test_a_full_text_that_does_not_match_the_deltas_is_counted():
    metrics = LlmMetrics()
    bad = mindie_record(0.0)
    bad.full_text = "aaab"
    metrics.add(bad)
    metrics.add(mindie_record(1.0))
    s = summarize(metrics)
    assert (s["full_text_checked"], s["full_text_differs"]) == (2, 1)
    assert "full_text differed from the streamed deltas in 1 of 2 requests" in format_table(s)
