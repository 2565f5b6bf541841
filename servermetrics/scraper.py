"""The scraper: one greenlet that fetches and parses a server's ``/metrics`` every interval.

Independent of Locust: ``start()`` spawns the greenlet, whose first scrape is the run's
baseline; ``snapshot()`` gives the figures so far (for a live view); ``stop()`` ends the
greenlet, takes a last scrape and returns the summary's ``server_metrics`` block. Nothing here runs on a
request's path: the greenlet sleeps between scrapes, and the text is parsed on a thread of
gevent's pool so the event loop goes on serving streams meanwhile (vLLM's 55 KB page takes
about 8 ms to parse; a server with many models or adapters, ten times that).

A server without metrics (404, llama-server's 501 without ``--metrics``), one that answers
something that is not Prometheus text, or cannot be reached: one warning line, the first
time; the run goes on, and the block reads ``{"available": false, "reason": ...}`` when no
scrape of the run succeeded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import gevent
from gevent.event import Event

from servermetrics.fetch import FetchError, fetch, origin
from servermetrics.parse import MetricsFormatError, Scrape, parse
from servermetrics.summary import RunMetrics, unavailable

if TYPE_CHECKING:
    from conf.settings import Settings

log = logging.getLogger("llm")


def parse_off_loop(text: str) -> Scrape:
    """:func:`parse` on a thread of gevent's pool; its error raised here."""

    def call() -> tuple[Scrape | None, MetricsFormatError | None]:
        try:
            return parse(text), None
        except MetricsFormatError as exc:
            return None, exc

    scrape, error = gevent.get_hub().threadpool.apply(call)
    if error is not None:
        raise error
    return scrape  # type: ignore[return-value]


class ServerMetricsScraper:
    """Scrapes ``url`` every ``interval`` seconds between :meth:`start` and :meth:`stop`."""

    def __init__(
        self,
        url: str,
        interval: float = 2.0,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
        verify_tls: bool = True,
        get: Callable[[str, Mapping[str, str], float, bool], str] = fetch,
        parse_text: Callable[[str], Scrape] = parse_off_loop,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.interval = interval
        self.headers = dict(headers or {})
        self.timeout = timeout if timeout is not None else max(1.0, min(5.0, 2 * interval))
        """Seconds one scrape may take (connect, each read; twice this for the whole exchange)."""
        self.verify_tls = verify_tls
        self._get, self._parse, self._clock = get, parse_text, clock
        self.run = RunMetrics()
        self.failed = 0
        self.reason: str | None = None
        """Why the latest failed scrape failed (None: none failed)."""
        self._warned = False
        self._stopping = Event()
        self._greenlet: gevent.Greenlet | None = None
        self._block: dict | None = None

    def start(self) -> None:
        """Spawn the greenlet: the baseline scrape first, then one every interval. Returns at
        once (an unreachable server never holds up the run's start)."""
        if self._greenlet is not None:
            raise RuntimeError("this scraper was started already; make one per run")
        self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> dict:
        """End the greenlet, take a last scrape, and return the ``server_metrics`` block. Takes
        at most twice the scrape timeout: a scrape in flight gets one, the last one another."""
        if self._block is not None:
            return self._block
        self._stopping.set()
        if self._greenlet is not None:
            self._greenlet.join(timeout=self.timeout)
            self._greenlet.kill(block=True, timeout=1.0)
        with gevent.Timeout(self.timeout, False):
            self.scrape_once()
        self._block = self.block()
        return self._block

    def snapshot(self) -> dict:
        """The block so far, plus ``latest``: each gauge's last value, each counter's last rate."""
        return {**self.block(), "latest": self.run.latest()}

    def block(self) -> dict:
        if not self.run.scrapes:
            return unavailable(self.url, self.reason or "not scraped yet", self.failed)
        first, last = self.run.first_t or 0.0, self.run.last_t or 0.0
        return {"available": True, "url": self.url, "interval_s": self.interval, "scrapes": self.run.scrapes,
                "failed_scrapes": self.failed, "last_failure": self.reason, "first_t": round(first, 3),
                "last_t": round(last, 3), "duration_s": round(last - first, 3), **self.run.block()}

    def scrape_once(self) -> bool:
        """One scrape, added to the run's figures; False (and one warning, once) when it failed."""
        t = self._clock()
        try:
            scrape = self._parse(self._get(self.url, self.headers, self.timeout, self.verify_tls))
        except (FetchError, MetricsFormatError) as exc:
            self._failed(str(exc))
            return False
        self.run.add(t, scrape)
        return True

    def _failed(self, reason: str) -> None:
        self.failed += 1
        self.reason = reason
        if not self._warned:
            self._warned = True
            log.warning("LLM server metrics: %s: %s; the run goes on without them (later failures are "
                        "counted in the summary, not logged)", self.url, reason)

    def _loop(self) -> None:
        due = time.monotonic()
        self.scrape_once()
        while True:
            due += self.interval
            wait = due - time.monotonic()
            if wait < 0:  # a slow scrape: skip the ticks it overran instead of catching up in a burst
                due, wait = time.monotonic(), 0.0
            if self._stopping.wait(wait):
                return
            self.scrape_once()


def scraper_for(settings: Settings) -> ServerMetricsScraper | None:
    """The scraper ``settings`` ask for (``--server-metrics``), or None when it is off.

    The API key goes along only when the metrics URL is on the target's own scheme, host and
    port: a metrics URL elsewhere (an exporter, another port) never receives it."""
    url = settings.server_metrics
    if not url:
        return None
    same_origin = origin(url) == origin(str(settings.target))
    headers = settings.auth_headers() if same_origin else {}
    interval = settings.server_metrics_interval
    return ServerMetricsScraper(url, interval, headers, verify_tls=settings.verify_tls)
