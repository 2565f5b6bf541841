"""The LLM CSV files: a row per request (also shipped from a worker), a row per class. No Locust."""

import csv

import msgpack
from test_metrics_server_side import mindie_record, reasoning_record
from test_reports_gates import timed

from metrics.collector import LlmMetrics
from metrics.report import summarize
from reports.csv import REQUEST_COLUMNS, RequestCsv, request_row, summary_rows, write_summary_csv
from reports.goodput import Goodput


def read(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_each_counted_request_is_one_row_with_its_timings(tmp_path):
    out = RequestCsv(tmp_path / "run_llm_requests.csv")
    metrics = LlmMetrics(goodput=Goodput(ttft=0.125), rows=out.write)
    metrics.add(timed("text", ttft=0.1, tokens=11, itl=0.01))
    metrics.add(timed("base64", error="HTTP 500: boom"))
    metrics.add_retry(timed("text", error="HTTP 429: slow down"))  # an attempt, not a request
    out.close()
    rows = read(out.path)
    assert list(rows[0]) == list(REQUEST_COLUMNS)
    assert len(rows) == 2 and out.rows == 2
    ok, failed = rows
    assert (ok["class"], ok["status"], ok["good"], ok["output_tokens"]) == ("text", "ok", "1", "11")
    assert float(ok["ttft_ms"]) == 100.0 and float(ok["tpot_ms"]) == 10.0 and float(ok["itl_mean_ms"]) == 10.0
    assert (failed["status"], failed["error"], failed["ttft_ms"], failed["good"]) == (
        "failed", "HTTP 500: boom", "", "0")


def test_a_workers_rows_reach_the_masters_file_and_are_not_kept_there(tmp_path):
    worker = LlmMetrics(keep_rows=True)
    for i in range(3):
        worker.add(timed(start=i))
    shipped = msgpack.unpackb(msgpack.packb(worker.to_dict()), strict_map_key=False)
    out = RequestCsv(tmp_path / "r.csv")
    master = LlmMetrics(rows=out.write)
    master.merge(LlmMetrics.from_dict(shipped))
    out.close()
    assert len(read(out.path)) == 3
    assert master.request_rows == []
    assert LlmMetrics().to_dict()["rows"] == []  # a local run's metrics ship nothing


def test_the_class_csv_has_a_row_per_class_and_all_with_the_summary_scalars(tmp_path):
    metrics = LlmMetrics()
    metrics.add(timed("text"))
    metrics.add(timed("base64", start=1))
    summary = summarize(metrics)
    columns, rows = summary_rows(summary)
    assert [r[0] for r in rows] == ["base64", "text", "all"]
    assert {"completed", "p95_ttft_ms", "output_throughput", "total_images"} <= set(columns)
    assert "per_class" not in columns and "failures" not in columns
    write_summary_csv(summary, tmp_path / "x" / "run_llm.csv")
    table = read(tmp_path / "x" / "run_llm.csv")
    assert table[-1]["class"] == "all" and table[-1]["completed"] == "2"


def test_reasoning_and_server_timings_have_columns_of_their_own(tmp_path):
    """TTFO 30 ms after TTFT (3 reasoning chunks 10 ms apart), 3 of 5 output tokens reasoning; a
    MindIE-style request: the server's 90 ms prefill and its mean decode gap (9, 9.5, 10 ms)."""
    out = RequestCsv(tmp_path / "run_llm_requests.csv")
    metrics = LlmMetrics(rows=out.write)
    metrics.add(reasoning_record(0.0))
    metrics.add(mindie_record(1.0))
    out.close()
    reasoning, mindie = read(out.path)
    assert float(reasoning["ttft_ms"]) == 100.0 and float(reasoning["ttfo_ms"]) == 130.0
    assert (reasoning["output_tokens"], reasoning["reasoning_tokens"]) == ("5", "3")
    assert (reasoning["server_prefill_ms"], reasoning["server_itl_mean_ms"]) == ("", "")
    assert float(mindie["server_prefill_ms"]) == 90.0 and float(mindie["server_itl_mean_ms"]) == 9.5
    assert float(mindie["ttfo_ms"]) == float(mindie["ttft_ms"])  # no reasoning: the first token answers
    assert mindie["reasoning_tokens"] == ""  # none arrived and the server counted none: unknown


def test_a_server_that_counted_no_reasoning_gives_zero_not_empty():
    record = timed()
    record.reasoning_tokens, record.reasoning_tokens_source = 0, "usage"
    row = dict(zip(REQUEST_COLUMNS, request_row(record, None), strict=True))
    assert row["reasoning_tokens"] == 0
