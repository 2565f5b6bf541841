"""The well-known metric names of each server, under one set of common names.

Servers name the same figure differently (requests running is ``vllm:num_requests_running``,
``sglang:num_running_reqs``, ``tgi_batch_current_size`` or ``llamacpp:requests_processing``),
and rename them between versions (vLLM's ``gpu_cache_usage_perc`` became ``kv_cache_usage_perc``).
The summary keeps every metric under its own name; its ``common`` block says which of them
stands for each common name, so a report can chart "running" whatever the server.

Names are as the server exposes them: a counter with its ``_total`` suffix when it has one,
a histogram by its family name (no ``_bucket``). Candidates come newest first: the first one a
server exposes wins. Sources: vLLM's metrics (checked against a recorded vLLM 0.32 ``/metrics``),
SGLang's production-metrics page, text-generation-inference's metrics reference and the
llama.cpp server README.
"""

from __future__ import annotations

from collections.abc import Iterable

WELL_KNOWN: dict[str, dict[str, tuple[str, ...]]] = {
    "vllm": {
        "running": ("vllm:num_requests_running",),
        "waiting": ("vllm:num_requests_waiting",),
        "kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        "prefix_cache_hits": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
        "prefix_cache_queries": ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
        "prefix_cache_hit_rate": ("vllm:gpu_prefix_cache_hit_rate",),
        "prompt_tokens": ("vllm:prompt_tokens_total",),
        "generation_tokens": ("vllm:generation_tokens_total",),
        "requests_finished": ("vllm:request_success_total",),
        "preemptions": ("vllm:num_preemptions_total",),
        "ttft": ("vllm:time_to_first_token_seconds",),
        "itl": ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
        "tpot": ("vllm:request_time_per_output_token_seconds",),
        "e2e": ("vllm:e2e_request_latency_seconds",),
        "queue_time": ("vllm:request_queue_time_seconds",),
    },
    "sglang": {
        "running": ("sglang:num_running_reqs",),
        "waiting": ("sglang:num_queue_reqs",),
        "kv_cache_usage": ("sglang:token_usage",),
        "kv_cache_tokens": ("sglang:num_used_tokens",),
        "prefix_cache_hits": ("sglang:cached_tokens_total",),
        "prefix_cache_hit_rate": ("sglang:cache_hit_rate",),
        "prompt_tokens": ("sglang:prompt_tokens_total",),
        "generation_tokens": ("sglang:generation_tokens_total",),
        "generation_throughput": ("sglang:gen_throughput",),
        "requests_finished": ("sglang:num_requests_total",),
        "ttft": ("sglang:time_to_first_token_seconds",),
        "itl": ("sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds"),
        "e2e": ("sglang:e2e_request_latency_seconds",),
    },
    "tgi": {
        "running": ("tgi_batch_current_size",),
        "waiting": ("tgi_queue_size",),
        "prompt_tokens": ("tgi_request_input_length",),
        "generation_tokens": ("tgi_request_generated_tokens",),
        "requests_finished": ("tgi_request_success",),
        "tpot": ("tgi_request_mean_time_per_token_duration",),
        "e2e": ("tgi_request_duration",),
        "queue_time": ("tgi_request_queue_duration",),
    },
    "llama.cpp": {
        "running": ("llamacpp:requests_processing",),
        "waiting": ("llamacpp:requests_deferred",),
        "kv_cache_usage": ("llamacpp:kv_cache_usage_ratio",),
        "kv_cache_tokens": ("llamacpp:kv_cache_tokens",),
        "prompt_tokens": ("llamacpp:prompt_tokens_total",),
        "generation_tokens": ("llamacpp:tokens_predicted_total",),
        "generation_throughput": ("llamacpp:predicted_tokens_seconds",),
        "prompt_throughput": ("llamacpp:prompt_tokens_seconds",),
    },
}
"""Server -> common name -> the server's names for it, newest first. TGI's token counts are
histograms per request (their ``sum`` counts the tokens); its ``mean_time_per_token`` is a
per-request mean, so it stands for TPOT, not ITL."""

RATIOS: frozenset[str] = frozenset(
    name for names in WELL_KNOWN.values()
    for common in ("kv_cache_usage", "prefix_cache_hit_rate") for name in names.get(common, ()))
"""Gauges that are fractions (0..1): over several label sets (engines, models) they average;
every other gauge adds up (requests running on two engines are their sum)."""

LATENCIES: dict[str, str] = {"ttft": "ttft_ms", "itl": "itl_ms", "tpot": "tpot_ms", "e2e": "e2el_ms"}
"""Common latency names -> the client summary's figure they stand beside (all in seconds on
the server, milliseconds in the client's summary)."""


def common_names(present: Iterable[str]) -> tuple[str | None, dict[str, str]]:
    """The server that ``present`` names come from (None: none known) and, for each common
    name, the first of its candidates that is present."""
    present = set(present)
    found: dict[str, str] = {}
    hits: dict[str, int] = {}
    for server, table in WELL_KNOWN.items():
        for common, candidates in table.items():
            name = next((n for n in candidates if n in present), None)
            if name is not None and common not in found:
                found[common] = name
                hits[server] = hits.get(server, 0) + 1
    server = max(hits, key=hits.__getitem__) if hits else None
    return server, found
