"""The scraper against small loopback servers of the test's own: it scrapes every interval, and a
server without metrics (llama-server's 501), with garbage, or none at all costs one warning line
and an ``{"available": false, "reason": ...}`` block, while the run goes on. Credentials follow
a redirect only on the same origin."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import gevent
import pytest
from gevent.pywsgi import WSGIServer

from conf.settings import from_options
from servermetrics import ServerMetricsScraper, scraper_for

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
Answer = tuple[str, list[tuple[str, str]], bytes]


class Server:
    """A loopback WSGI server: ``routes[path]()`` gives (status, headers, body); requests are kept."""

    def __init__(self, routes: dict[str, Callable[[], Answer]]) -> None:
        self.routes = routes
        self.requests: list[dict[str, str]] = []
        self.wsgi = WSGIServer(("127.0.0.1", 0), self.app, log=None, error_log=None)
        self.wsgi.start()
        self.url = f"http://127.0.0.1:{self.wsgi.server_port}"

    def app(self, environ, start_response):
        path = environ["PATH_INFO"]
        self.requests.append({"path": path, "authorization": environ.get("HTTP_AUTHORIZATION", "")})
        status, headers, body = self.routes.get(path, lambda: ("404 Not Found", [], b"404: Not Found"))()
        start_response(status, headers)
        return [body]


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(routes: dict[str, Callable[[], Answer]]) -> Server:
        servers.append(Server(routes))
        return servers[-1]

    yield start
    for server in servers:
        server.wsgi.stop()


def text(body: str) -> Callable[[], Answer]:
    return lambda: ("200 OK", [("Content-Type", "text/plain; version=0.0.4")], body.encode())


def counting_page() -> Callable[[], Answer]:
    """A page whose counter gains 10 and whose gauge gains 1 at each scrape."""
    calls = [0]

    def answer() -> Answer:
        calls[0] += 1
        page = (f"# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total {10 * calls[0]}\n"
                f"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running {calls[0]}\n")
        return text(page)()

    return answer


def run_for(scraper: ServerMetricsScraper, seconds: float) -> dict:
    scraper.start()
    gevent.sleep(seconds)
    return scraper.stop()


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "llm" and r.levelno == logging.WARNING]


def test_scrapes_every_interval_and_keeps_a_baseline(serve):
    server = serve({"/metrics": counting_page()})
    block = run_for(ServerMetricsScraper(server.url + "/metrics", 0.1), 0.55)
    assert block["available"] is True and block["failed_scrapes"] == 0
    assert 5 <= block["scrapes"] <= 9  # baseline + about 5 ticks + the last one at stop
    running = block["vllm:num_requests_running"]
    assert (running["min"], running["max"]) == (1, block["scrapes"])
    assert [v for _, v in running["series"]] == list(range(1, block["scrapes"] + 1))
    assert block["vllm:generation_tokens_total"]["increase"] == 10 * (block["scrapes"] - 1)
    assert block["common"]["running"] == "vllm:num_requests_running"


def test_llama_server_501_is_one_warning_and_an_unavailable_block(serve, caplog):
    body = (FIXTURES / "llama-server-without-metrics-flag.501.json").read_bytes()
    json = [("Content-Type", "application/json")]
    server = serve({"/metrics": lambda: ("501 Not Implemented", json, body)})
    url = server.url + "/metrics"
    block = run_for(ServerMetricsScraper(url, 0.1), 0.35)
    reason = "HTTP 501: This server does not support metrics endpoint. Start it with `--metrics`"
    assert block == {"available": False, "url": url, "reason": reason, "scrapes": 0,
                     "failed_scrapes": block["failed_scrapes"]}
    assert block["failed_scrapes"] >= 3
    assert warnings(caplog) == [f"LLM server metrics: {url}: {reason}; the run goes on without them "
                                "(later failures are counted in the summary, not logged)"]


def test_a_page_of_garbage_is_one_warning(serve, caplog):
    server = serve({"/metrics": lambda: ("200 OK", [("Content-Type", "text/html")], b"<html>hi</html>")})
    block = run_for(ServerMetricsScraper(server.url + "/metrics", 0.1), 0.25)
    assert block["available"] is False and block["reason"].startswith("not Prometheus text (")
    assert len(warnings(caplog)) == 1


def test_no_metrics_route_and_no_server_at_all(serve, caplog):
    server = serve({})
    block = run_for(ServerMetricsScraper(server.url + "/metrics", 0.1), 0.15)
    assert block["reason"] == "HTTP 404: Not Found"  # the body (as aiohttp says it) without the repeat
    server.wsgi.stop()
    block = run_for(ServerMetricsScraper(server.url + "/metrics", 0.1), 0.15)
    assert block["reason"] == "connection refused"


def test_failures_after_good_scrapes_are_counted_and_the_figures_kept(serve, caplog):
    good = counting_page()
    answers = iter([good, good, good])
    server = serve({"/metrics": lambda: next(answers, lambda: ("503 Service Unavailable", [], b"busy"))()})
    block = run_for(ServerMetricsScraper(server.url + "/metrics", 0.1), 0.45)
    assert block["available"] is True and block["scrapes"] == 3 and block["failed_scrapes"] >= 2
    assert block["last_failure"] == "HTTP 503: busy"
    assert len(warnings(caplog)) == 1


def test_snapshot_gives_the_figures_so_far_and_the_latest_values(serve):
    server = serve({"/metrics": counting_page()})
    scraper = ServerMetricsScraper(server.url + "/metrics", 0.1)
    scraper.start()
    gevent.sleep(0.25)
    snapshot = scraper.snapshot()
    scraper.stop()
    assert snapshot["available"] is True
    assert snapshot["latest"]["vllm:num_requests_running"] == snapshot["scrapes"]
    assert snapshot["latest"]["vllm:generation_tokens_total"] > 0  # per second, over the last interval


def test_a_redirect_keeps_the_key_on_the_same_origin_only(serve):
    elsewhere = serve({"/metrics": counting_page()})
    home = serve({"/metrics": lambda: ("307 Temporary Redirect", [("Location", "/metrics/")], b""),
                  "/metrics/": counting_page(),
                  "/away": lambda: ("302 Found", [("Location", elsewhere.url + "/metrics")], b"")})
    key = {"Authorization": "Bearer sk-test"}
    assert run_for(ServerMetricsScraper(home.url + "/metrics", 0.1, key), 0.05)["available"] is True
    assert {r["authorization"] for r in home.requests} == {"Bearer sk-test"}
    assert run_for(ServerMetricsScraper(home.url + "/away", 0.1, key), 0.05)["available"] is True
    assert elsewhere.requests and {r["authorization"] for r in elsewhere.requests} == {""}


def settings(**options):
    return from_options(argparse.Namespace(host="http://127.0.0.1:8000", **options),
                        environ={"OPENAI_API_KEY": "sk-test"})


def test_scraper_for_settings_sends_the_key_only_to_the_targets_origin():
    assert scraper_for(settings()) is None
    auto = scraper_for(settings(server_metrics="auto", server_metrics_interval=0.5))
    assert (auto.url, auto.interval, auto.headers) == (
        "http://127.0.0.1:8000/metrics", 0.5, {"Authorization": "Bearer sk-test"})
    exporter = scraper_for(settings(server_metrics="http://127.0.0.1:9400/metrics"))
    assert exporter.headers == {}


def test_stop_is_bounded_by_the_timeout_when_the_server_hangs(serve):
    def hang() -> Answer:
        gevent.sleep(10)
        return text("late 1\n")()

    server = serve({"/metrics": hang})
    scraper = ServerMetricsScraper(server.url + "/metrics", 0.1, timeout=0.3)
    scraper.start()
    gevent.sleep(0.1)
    started = time.monotonic()
    block = scraper.stop()
    assert time.monotonic() - started < 1.5
    assert block["available"] is False and block["reason"] == "timeout: no answer within 0.3 s"
