"""A run's scrapes -> the ``server_metrics`` block: gauge statistics and series, counter rates (with
resets and late label sets), the run's own histogram percentiles, and the block beside the client's."""

from __future__ import annotations

import pytest

from servermetrics.parse import parse
from servermetrics.summary import RunMetrics, beside_client, format_block, unavailable

ENGINE = 'engine="0",model_name="m"'


def vllm_page(running: float, waiting: float, generated: float, ttft_buckets: tuple[int, int, int],
              kv: float = 0.0) -> str:
    """A small vLLM-shaped page: TTFT buckets at 0.1 s, 0.2 s and +Inf (cumulative)."""
    b1, b2, inf = ttft_buckets
    return f"""# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{{ENGINE}}} {running}
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{{ENGINE}}} {waiting}
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{{ENGINE}}} {kv}
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{{{ENGINE}}} {generated}
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{{{ENGINE},le="0.1"}} {b1}
vllm:time_to_first_token_seconds_bucket{{{ENGINE},le="0.2"}} {b2}
vllm:time_to_first_token_seconds_bucket{{{ENGINE},le="+Inf"}} {inf}
vllm:time_to_first_token_seconds_sum{{{ENGINE}}} {0.15 * inf}
vllm:time_to_first_token_seconds_count{{{ENGINE}}} {inf}
"""


def run_of(*pages: str, step: float = 2.0, t0: float = 1000.0) -> RunMetrics:
    run = RunMetrics()
    for i, page in enumerate(pages):
        run.add(t0 + i * step, parse(page))
    return run


@pytest.fixture
def ramp() -> dict:
    return run_of(
        vllm_page(0, 0, 100, (5, 5, 5)),  # baseline: what the server did before the run
        vllm_page(1, 0, 140, (6, 6, 6)),
        vllm_page(2, 1, 220, (6, 8, 8)),
        vllm_page(3, 0, 340, (6, 9, 10)),
    ).block()


def test_gauge_min_mean_max_last_and_series(ramp):
    running = ramp["vllm:num_requests_running"]
    assert running["type"] == "gauge"
    assert (running["min"], running["mean"], running["max"], running["last"]) == (0, 1.5, 3, 3)
    assert running["series"] == [[1000.0, 0], [1002.0, 1], [1004.0, 2], [1006.0, 3]]
    assert ramp["vllm:num_requests_waiting"]["max"] == 1


def test_counter_rate_over_the_run_and_per_interval(ramp):
    generated = ramp["vllm:generation_tokens_total"]
    assert generated["increase"] == 240 and generated["rate"] == 40
    assert generated["series"] == [[1002.0, 20], [1004.0, 40], [1006.0, 60]]


def test_histogram_percentiles_are_the_runs_own(ramp):
    ttft = ramp["vllm:time_to_first_token_seconds"]
    # The run added 1 observation at or below 0.1 s, 3 in (0.1, 0.2] and 1 above; the baseline's 5
    # are not its. The p99 falls in the +Inf bucket: the largest finite bound.
    assert ttft["count"] == 5 and ttft["sum"] == pytest.approx(0.75)
    assert ttft["p50"] == pytest.approx(0.1 + 0.1 * (2.5 - 1) / 3)
    assert ttft["p99"] == 0.2
    assert ttft["series_fields"] == ["t", "count", "p50", "p90", "p99"]
    assert [row[:2] for row in ttft["series"]] == [[1002.0, 1], [1004.0, 2], [1006.0, 2]]


def test_common_names_point_at_the_source_metric(ramp):
    assert ramp["server"] == "vllm"
    assert ramp["common"]["running"] == "vllm:num_requests_running"
    assert ramp["common"]["ttft"] == "vllm:time_to_first_token_seconds"


def test_a_counter_that_goes_down_was_reset():
    pages = [f"# TYPE c_total counter\nc_total {v}\n" for v in (10, 30, 5, 15)]
    counter = run_of(*pages, step=1.0).block()["c_total"]
    assert counter["increase"] == 20 + 5 + 10
    assert [rate for _, rate in counter["series"]] == [20, 5, 10]


def test_a_label_set_that_appears_later_started_from_zero():
    first = '# TYPE r_total counter\nr_total{reason="length"} 3\n'
    later = '# TYPE r_total counter\nr_total{reason="length"} 5\nr_total{reason="stop"} 4\n'
    block = run_of(first, later, step=1.0).block()["r_total"]
    assert block["increase"] == 2 + 4
    assert block["by_labels"] == {'reason="length"': {"increase": 2, "rate": 2.0},
                                  'reason="stop"': {"increase": 4, "rate": 4.0}}


def test_gauges_add_up_over_label_sets_but_fractions_average():
    page = ("# TYPE vllm:num_requests_running gauge\n"
            'vllm:num_requests_running{engine="0"} 2\nvllm:num_requests_running{engine="1"} 3\n'
            "# TYPE vllm:kv_cache_usage_perc gauge\n"
            'vllm:kv_cache_usage_perc{engine="0"} 0.2\nvllm:kv_cache_usage_perc{engine="1"} 0.6\n')
    block = run_of(page).block()
    assert block["vllm:num_requests_running"]["max"] == 5
    assert block["vllm:kv_cache_usage_perc"]["max"] == pytest.approx(0.4)
    assert block["vllm:num_requests_running"]["by_labels"]['engine="1"']["last"] == 3


def test_unknown_metrics_are_kept_as_they_are():
    block = run_of("my_queue_depth 4\n", "my_queue_depth 6\n").block()
    assert block["my_queue_depth"]["max"] == 6 and block["server"] is None and block["common"] == {}


def test_prefix_cache_hit_rate_of_the_runs_tokens():
    def page(hits: int, queries: int) -> str:
        return (f"# TYPE vllm:prefix_cache_hits_total counter\nvllm:prefix_cache_hits_total {hits}\n"
                "# TYPE vllm:prefix_cache_queries_total counter\n"
                f"vllm:prefix_cache_queries_total {queries}\n")
    block = run_of(page(100, 1000), page(400, 2000)).block()
    assert block["derived"] == {"prefix_cache_hit_rate": 0.3}


def test_unavailable_block_says_why():
    block = unavailable("http://127.0.0.1:8080/metrics", "HTTP 501: no metrics", 3)
    assert block["available"] is False and block["reason"] == "HTTP 501: no metrics"
    assert beside_client(block, {}) is block


def test_beside_client_puts_server_percentiles_in_ms_next_to_the_clients(ramp):
    block = {"available": True, **ramp}
    client = {"mean_ttft_ms": 151.0, "p50_ttft_ms": 140.0, "p90_ttft_ms": 180.0, "p99_ttft_ms": 199.0,
              "output_throughput": 39.0, "duration": 6.0, "total_input_tokens": 600,
              "total_output_tokens": 234}
    side = beside_client(block, client)["vs_client"]
    assert side["ttft_ms"]["server_metric"] == "vllm:time_to_first_token_seconds"
    assert side["ttft_ms"]["server"]["p50"] == pytest.approx(150.0)
    assert side["ttft_ms"]["client"] == {"mean": 151.0, "p50": 140.0, "p90": 180.0, "p99": 199.0}
    # The server's 240 tokens over the client's 6 s, beside the client's 234.
    assert side["output_throughput"] == {"server_metric": "vllm:generation_tokens_total", "server": 40.0,
                                         "client": 39.0, "server_tokens": 240, "client_tokens": 234}


def test_format_block_lists_the_common_names_or_why_there_are_none(ramp):
    block = beside_client({"available": True, "url": "http://127.0.0.1:8000/metrics", "scrapes": 4, **ramp},
                          {"p50_ttft_ms": 140.0})
    text = format_block(block)
    assert text.splitlines()[0] == "Server metrics (vllm, 4 scrapes of http://127.0.0.1:8000/metrics):"
    assert "  running               max 3, mean 1.5, last 3  [vllm:num_requests_running]" in text
    assert "p50 150.0 ms" in text and "(client p50 140.0 ms)" in text
    assert "40/s (240 in the run)" in text
    assert format_block(unavailable("u", "HTTP 501: no", 2)) == "Server metrics: none (HTTP 501: no)"
