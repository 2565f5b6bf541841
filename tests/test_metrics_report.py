"""The summary's latency fields when there is nothing to measure: n/a in the table, null in JSON."""

import json

from metrics.collector import LlmMetrics
from metrics.report import format_table, summarize, write_json
from streaming.record import RequestRecord


def non_streamed(start: float) -> RequestRecord:
    r = RequestRecord("text", t_start=start, wall_start=1000.0 + start, t_end=start + 0.2)
    r.text_parts.append("hello")
    r.output_tokens, r.output_tokens_source = 4, "usage"
    return r


def test_a_non_streamed_run_shows_ttft_tpot_itl_as_na_and_null(tmp_path):
    metrics = LlmMetrics()
    for i in range(3):
        metrics.add(non_streamed(i))
    s = summarize(metrics)
    for name in ("ttft", "tpot", "itl"):
        assert s[f"mean_{name}_ms"] is None and s[f"p99_{name}_ms"] is None and s[f"count_{name}"] == 0
    assert abs(s["mean_e2el_ms"] - 200.0) < 1e-6
    write_json(s, tmp_path / "summary.json")
    assert json.loads((tmp_path / "summary.json").read_text())["median_ttft_ms"] is None
    rows = {line.split()[0]: line for line in format_table(s).splitlines()
            if line.startswith(("TTFT", "E2E"))}
    assert rows["TTFT"].split()[2:8] == ["n/a"] * 6
    assert "n/a" not in rows["E2E"]


def test_an_all_failed_run_has_no_latency_to_show():
    metrics = LlmMetrics()
    failed = RequestRecord("text", t_start=0.0, wall_start=1000.0, t_end=0.01, error="HTTP 404: no model")
    metrics.add(failed)
    s = summarize(metrics)
    assert all(s[f"mean_{name}_ms"] is None for name in ("ttft", "tpot", "itl", "e2el"))
    assert "0.00" not in "".join(line for line in format_table(s).splitlines() if line.startswith("TTFT"))
