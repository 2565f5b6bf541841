"""``GET /metrics``: the emulator's load in vLLM's Prometheus names, so a scraper has a server to read.

What each figure is here (labels ``engine="0"`` and ``model_name``, as vLLM's):

- ``vllm:num_requests_running``: requests in flight (being generated, streamed or not);
- ``vllm:num_requests_waiting``: 0, as the emulator starts every request at once;
- ``vllm:kv_cache_usage_perc``: the tokens the requests in flight hold (prompt plus planned
  output) over ``--kv-cache-tokens``, at most 1;
- ``vllm:prompt_tokens_total``, ``vllm:generation_tokens_total``: tokens of the requests
  served, counted when each one ends;
- ``vllm:request_success_total{finished_reason="length"}``: requests served whole;
- ``vllm:time_to_first_token_seconds``: a histogram (vLLM's buckets) of the served TTFT, from
  arrival until the first token was handed to the socket.

``prometheus_client`` writes the text, in a registry of the emulator's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as exposition

from emulator.log import RequestRecord

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
"""vLLM's TTFT buckets, seconds."""


class ServedMetrics:
    """The emulator's gauges, counters and TTFT histogram, and the ``/metrics`` handler."""

    def __init__(self, model: str, kv_cache_tokens: int, running: Callable[[], float]) -> None:
        """``running()``: requests in flight now (the load model's count)."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.capacity = kv_cache_tokens
        self.held_tokens = 0
        """Prompt plus planned output tokens of the requests in flight."""
        labels = {"engine": "0", "model_name": model}
        names = list(labels)

        def gauge(name: str, doc: str, value: Callable[[], float]) -> None:
            Gauge(name, doc, names, registry=self.registry).labels(**labels).set_function(value)

        gauge("vllm:num_requests_running", "Requests in flight.", running)
        gauge("vllm:num_requests_waiting", "Requests waiting to start (none here).", lambda: 0)
        gauge("vllm:kv_cache_usage_perc", "Tokens held by requests in flight over --kv-cache-tokens.",
              lambda: min(1.0, self.held_tokens / self.capacity) if self.capacity else 0.0)
        self.prompt = Counter("vllm:prompt_tokens", "Prompt tokens of requests served.", names,
                              registry=self.registry).labels(**labels)
        self.generation = Counter("vllm:generation_tokens", "Tokens generated.", names,
                                  registry=self.registry).labels(**labels)
        self.success = Counter("vllm:request_success", "Requests served whole.", [*names, "finished_reason"],
                               registry=self.registry).labels(**labels, finished_reason="length")
        self.ttft = Histogram("vllm:time_to_first_token_seconds", "Served time to first token.", names,
                              buckets=TTFT_BUCKETS, registry=self.registry).labels(**labels)

    @contextmanager
    def holding(self, tokens: int) -> Iterator[None]:
        """Count ``tokens`` as held in the KV cache while the block runs (one request's life)."""
        self.held_tokens += tokens
        try:
            yield
        finally:
            self.held_tokens -= tokens

    def finished(self, record: RequestRecord) -> None:
        """Count one completion request that ended (only those served with a 200)."""
        if record.status != 200 or record.prompt_tokens is None:
            return
        self.prompt.inc(record.prompt_tokens)
        self.generation.inc(record.completion_tokens)
        if record.ttft_served_ms is not None:
            self.ttft.observe(record.ttft_served_ms / 1000)
        if record.outcome == "ok":
            self.success.inc()

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(body=exposition(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
