"""The request log's lines: reasoning and the server's own timings beside the client's. No Locust."""

import orjson
import pytest
from test_metrics_server_side import mindie_record, reasoning_record

from metrics.request_log import RequestLog, log_line


def test_a_reasoning_request_logs_ttfo_and_its_reasoning_tokens(tmp_path):
    log = RequestLog(tmp_path / "requests.jsonl")
    log.write(reasoning_record(0.0))
    log.close()
    (line,) = [orjson.loads(raw) for raw in (tmp_path / "requests.jsonl").read_bytes().splitlines()]
    assert line["ttft_ms"] == pytest.approx(100.0) and line["ttfo_ms"] == pytest.approx(130.0)
    counts = (line["output_tokens"], line["reasoning_tokens"], line["reasoning_tokens_source"])
    assert counts == (5, 3, "usage")
    assert line["server_prefill_ms"] is None and line["server_itl_ms_mean"] is None


def test_a_mindie_style_request_logs_the_servers_prefill_and_mean_decode_gap():
    line = log_line(mindie_record(0.0, prefill_ms=90.0), 1)
    assert line["server_prefill_ms"] == 90.0 and line["server_itl_ms_mean"] == pytest.approx(9.5)
    assert line["ttfo_ms"] == pytest.approx(line["ttft_ms"])
    assert line["reasoning_tokens"] is None and line["reasoning_tokens_source"] is None
