"""The scraper against the emulator's ``/metrics`` under a bounded ramp of streams: 0, 1, 2, 3, then
4 in flight, 0.6 s apart, each long enough to outlast the ramp. Scraped every 0.2 s, the running
gauge's maximum is the streams in flight and its series climbs the same steps."""

from __future__ import annotations

import itertools

import gevent
import orjson
import pytest
from geventhttpclient import HTTPClient

from emulator.launch import start_emulator
from servermetrics import ServerMetricsScraper

pytestmark = pytest.mark.load

STREAMS, STEP_S, TOKENS, ITL_MS, KV_TOKENS = 4, 0.6, 600, 5, 4000


def stream(url: str, max_tokens: int) -> bytes:
    """One streamed chat request, read to its end."""
    client = HTTPClient.from_url(url, concurrency=1, network_timeout=30)
    body = orjson.dumps({"model": "emulator", "stream": True, "max_tokens": max_tokens,
                         "messages": [{"role": "user", "content": "count the streams"}]})
    try:
        response = client.post("/v1/chat/completions", body, headers={"Content-Type": "application/json"})
        return response.read()
    finally:
        client.close()


@pytest.fixture(scope="module")
def ramp() -> dict:
    args = ("--ttft-ms", "50", "--itl-ms", str(ITL_MS), "--kv-cache-tokens", str(KV_TOKENS))
    with start_emulator(*args) as emu:
        scraper = ServerMetricsScraper(emu.url + "/metrics", 0.2)
        scraper.start()
        gevent.sleep(STEP_S)  # a few scrapes of the idle server first
        streams = []
        for _ in range(STREAMS):
            streams.append(gevent.spawn(stream, emu.url, TOKENS))
            gevent.sleep(STEP_S)
        gevent.joinall(streams, timeout=30, raise_error=True)
        gevent.sleep(0.3)  # a scrape after the last stream ended
        return scraper.stop()


def test_max_running_is_the_streams_in_flight(ramp):
    assert ramp["available"] is True and ramp["failed_scrapes"] == 0
    assert ramp["vllm:num_requests_running"]["max"] == STREAMS
    assert ramp["vllm:num_requests_running"]["last"] == 0


def test_running_series_follows_the_ramp(ramp):
    values = [int(v) for _, v in ramp["vllm:num_requests_running"]["series"]]
    steps = [v for v, _ in itertools.groupby(values)]
    peak = steps.index(STREAMS)
    assert steps[: peak + 1] == list(range(STREAMS + 1)), values
    assert steps[peak:] == list(range(STREAMS, -1, -1)), values


def test_counters_and_histogram_count_what_was_served(ramp):
    assert ramp["vllm:generation_tokens_total"]["increase"] == STREAMS * TOKENS
    assert ramp["vllm:prompt_tokens_total"]["increase"] > 0
    ttft = ramp["vllm:time_to_first_token_seconds"]
    assert ttft["count"] == STREAMS and 0.04 <= ttft["p50"] <= 0.25
    assert ramp["vllm:request_success_total"]["increase"] == STREAMS


def test_kv_cache_usage_is_the_share_of_tokens_in_flight(ramp):
    prompt = ramp["vllm:prompt_tokens_total"]["increase"] / STREAMS
    usage = ramp["vllm:kv_cache_usage_perc"]
    assert usage["max"] == pytest.approx(STREAMS * (prompt + TOKENS) / KV_TOKENS)
    assert usage["last"] == 0
