"""``/metrics`` texts of vLLM (recorded), SGLang, TGI and llama.cpp (after their docs), and answers
that are no metrics at all (llama-server's 501 body, HTML, garbage): sorted, named, refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from servermetrics.names import common_names
from servermetrics.parse import MetricsFormatError, parse
from servermetrics.tracks import quantile

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.fixture(scope="module")
def vllm():
    return parse(fixture("vllm-0.32-cpu-after-a-run.prom"))


def test_vllm_gauges_are_keyed_by_their_own_name_and_label_set(vllm):
    assert vllm.gauges["vllm:num_requests_running"] == {'engine="0",model_name="qwen3-tiny"': 0.0}
    assert vllm.gauges["vllm:kv_cache_usage_perc"] == {'engine="0",model_name="qwen3-tiny"': 0.0}


def test_vllm_counters_keep_their_total_suffix(vllm):
    assert sum(vllm.counters["vllm:prompt_tokens_total"].values()) == 4617
    assert sum(vllm.counters["vllm:generation_tokens_total"].values()) == 2052
    assert sum(vllm.counters["vllm:prefix_cache_queries_total"].values()) == 4617
    success = vllm.counters["vllm:request_success_total"]
    assert len(success) == 5 and sum(success.values()) == 65


def test_created_timestamps_are_left_out(vllm):
    assert not [n for n in vllm.names() if n.endswith("_created")]


def test_vllm_ttft_histogram_has_its_buckets_sum_and_count(vllm):
    (buckets,) = vllm.histograms["vllm:time_to_first_token_seconds"].values()
    assert buckets.count == 65 and buckets.sum == pytest.approx(5.381391763687134)
    assert buckets.bounds[:3] == [0.001, 0.005, 0.01] and buckets.bounds[-1] == float("inf")
    assert buckets.counts[-1] == 65


def test_percentiles_interpolate_within_the_bucket(vllm):
    (b,) = vllm.histograms["vllm:time_to_first_token_seconds"].values()
    # 29 of 65 at or below 80 ms, 59 at or below 100 ms: the median (rank 32.5) is 3.5/30 into it.
    assert quantile(0.5, b.bounds, b.counts) == pytest.approx(0.08 + 0.02 * 3.5 / 30)
    assert quantile(0.99, b.bounds, b.counts) == pytest.approx(0.1 + 0.15 * 5.35 / 6)


def test_a_quantile_in_the_inf_bucket_is_the_largest_finite_bound():
    assert quantile(0.9, [1.0, 2.0, float("inf")], [1, 2, 10]) == 2.0
    assert quantile(0.5, [1.0, float("inf")], [0, 0]) is None


def test_vllm_common_names(vllm):
    server, common = common_names(vllm.names())
    assert server == "vllm"
    assert common["running"] == "vllm:num_requests_running"
    assert common["waiting"] == "vllm:num_requests_waiting"
    assert common["kv_cache_usage"] == "vllm:kv_cache_usage_perc"
    assert common["prefix_cache_hits"] == "vllm:prefix_cache_hits_total"
    assert common["ttft"] == "vllm:time_to_first_token_seconds"
    assert common["itl"] == "vllm:inter_token_latency_seconds"
    assert common["generation_tokens"] == "vllm:generation_tokens_total"


def test_older_vllm_names_map_to_the_same_common_names():
    text = ("# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc 0.5\n"
            "# TYPE vllm:time_per_output_token_seconds histogram\n"
            'vllm:time_per_output_token_seconds_bucket{le="+Inf"} 1\n'
            "vllm:time_per_output_token_seconds_sum 0.01\nvllm:time_per_output_token_seconds_count 1\n")
    _, common = common_names(parse(text).names())
    assert common == {"kv_cache_usage": "vllm:gpu_cache_usage_perc",
                      "itl": "vllm:time_per_output_token_seconds"}


def test_sglang_from_docs():
    scrape = parse(fixture("sglang-from-docs.txt"))
    server, common = common_names(scrape.names())
    assert server == "sglang"
    assert (common["running"], common["waiting"], common["kv_cache_usage"]) == (
        "sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:token_usage")
    assert scrape.gauges["sglang:num_running_reqs"] == {'model_name="qwen3-tiny"': 12.0}
    assert sum(scrape.counters["sglang:generation_tokens_total"].values()) == 20480
    (ttft,) = scrape.histograms["sglang:time_to_first_token_seconds"].values()  # _sum came before buckets
    assert (ttft.count, ttft.sum) == (100, 12.5)
    assert quantile(0.5, ttft.bounds, ttft.counts) == pytest.approx(0.1 + 0.15 * 10 / 50)
    assert list(scrape.histograms["sglang:func_latency_seconds"]) == ['name="generate_request"']


def test_tgi_from_docs_counters_keep_the_name_without_total():
    scrape = parse(fixture("tgi-from-docs.txt"))
    assert scrape.counters["tgi_request_count"] == {"": 120}
    assert "tgi_request_count_total" not in scrape.counters
    assert scrape.counters["tgi_batch_inference_count"] == {'method="prefill"': 118, 'method="decode"': 3840}
    server, common = common_names(scrape.names())
    assert server == "tgi"
    assert (common["running"], common["waiting"], common["e2e"]) == (
        "tgi_batch_current_size", "tgi_queue_size", "tgi_request_duration")
    assert set(scrape.histograms["tgi_batch_inference_duration"]) == {'method="prefill"', 'method="decode"'}


def test_llamacpp_from_docs():
    scrape = parse(fixture("llamacpp-from-docs.txt"))
    assert scrape.gauges["llamacpp:requests_processing"] == {"": 4}
    assert scrape.counters["llamacpp:n_tokens_max"] == {"": 1056}  # a counter without _total, as exposed
    assert scrape.counters["llamacpp:tokens_predicted_total"] == {"": 512}
    server, common = common_names(scrape.names())
    assert server == "llama.cpp"
    assert (common["running"], common["waiting"], common["generation_tokens"]) == (
        "llamacpp:requests_processing", "llamacpp:requests_deferred", "llamacpp:tokens_predicted_total")


def test_not_a_number_values_are_left_out():
    scrape = parse("llamacpp:predicted_tokens_seconds nan\nllamacpp:requests_processing 0\n")
    assert scrape.gauges == {"llamacpp:requests_processing": {"": 0.0}}


@pytest.mark.parametrize("text", [
    fixture("llama-server-without-metrics-flag.501.json"),
    "<html><body><h1>404 Not Found</h1></body></html>",
    "hello world\n",
    "",
    "# just a comment\n",
], ids=["llama-server-501-json", "html", "garbage", "empty", "comment-only"])
def test_an_answer_that_is_not_metrics_is_refused_with_a_reason(text):
    with pytest.raises(MetricsFormatError) as caught:
        parse(text)
    assert str(caught.value) and "\n" not in str(caught.value)
