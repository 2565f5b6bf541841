"""The chat client: one request in, one finished :class:`RequestRecord` out, reported once.

The reporting seam is a constructor argument (as in Locust's FastHttpSession): the client
only calls ``reporter.first_token``, ``reporter.token`` and ``reporter.done``; tests pass
their own. Every request ends in exactly one ``done`` call, success or classified failure.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Protocol

import gevent
import orjson
from gevent import GreenletExit
from geventhttpclient.response import HTTPSocketPoolResponse

from streaming.record import RequestRecord
from streaming.sse import TimedChunks
from streaming.stream import consume_response
from transport.http import StreamingHttp, arrival_clock


class Reporter(Protocol):
    """Receives a request's first token, each later token, and the finished record."""

    def first_token(self, record: RequestRecord, ttft: float) -> None: ...

    def token(self, record: RequestRecord, gap: float) -> None: ...

    def done(self, record: RequestRecord) -> None: ...

    def retried(self, record: RequestRecord) -> None:
        """An attempt that failed with 429/503 and was sent again (counted apart from requests)."""


class FirstTokenTimeout(Exception):
    """No token arrived within the first-token timeout."""


class IdleTimeout(Exception):
    """No byte arrived within the idle timeout."""


class InFlight:
    """The requests this process has in flight: idle timeouts, and a clean stop.

    One greenlet checks every in-flight request a few times a second against the arrival
    time the stream reader keeps anyway, so the per-token path pays nothing (a socket
    timeout would arm a gevent timer on every read). At the end of a test, :meth:`drain`
    lets in-flight requests finish, then cancels the rest, so each is counted exactly once.
    """

    def __init__(self, period: float = 0.1) -> None:
        self.period = period
        self.closed = False
        """Set by :meth:`drain`: no new request may start (until :meth:`reopen`)."""
        self._watched: dict[gevent.Greenlet, tuple[TimedChunks, float, float]] = {}
        self._runner: gevent.Greenlet | None = None

    def watch(self, chunks: TimedChunks, t_start: float, idle_timeout: float) -> None:
        """Track the current greenlet's request until :meth:`unwatch`."""
        self._watched[gevent.getcurrent()] = (chunks, t_start, idle_timeout)
        if self._runner is None or self._runner.dead:
            self._runner = gevent.spawn(self._run)

    def unwatch(self) -> None:
        self._watched.pop(gevent.getcurrent(), None)

    def _run(self) -> None:
        while self._watched:
            gevent.sleep(self.period)
            now = perf_counter()
            for greenlet, (chunks, t_start, idle) in list(self._watched.items()):
                if now - max(chunks.t_last, t_start) > idle:
                    self._watched.pop(greenlet, None)
                    gevent.kill(greenlet, IdleTimeout)

    def drain(self, timeout: float) -> int:
        """Refuse new requests, wait up to ``timeout`` s for those in flight, cancel the rest.

        Returns how many were cancelled (each is reported as a failure by its client).
        """
        self.closed = True
        deadline = perf_counter() + timeout
        while self._watched and perf_counter() < deadline:
            gevent.sleep(self.period)
        left = list(self._watched)
        for greenlet in left:
            greenlet.kill(block=False)
        gevent.joinall(left, timeout=5)
        return len(left)

    def reopen(self) -> None:
        self.closed = False


IN_FLIGHT = InFlight()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Opt-in retries of 429 and 503 answers, honouring ``Retry-After`` up to ``max_wait``."""

    retries: int = 0
    max_wait: float = 30.0
    default_wait: float = 1.0
    statuses: frozenset[int] = frozenset({429, 503})

    def wait_for(self, record: RequestRecord) -> float | None:
        """Seconds to wait before sending again, or None when the attempt stands."""
        if record.status not in self.statuses or record.attempts > self.retries:
            return None
        wait = record.retry_after if record.retry_after is not None else self.default_wait
        return min(max(wait, 0.0), self.max_wait)


class ChatClient:
    """Sends chat (or completions) requests and measures their streams."""

    def __init__(
        self,
        http: StreamingHttp,
        reporter: Reporter,
        count_tokens: Callable[[str], int] | None = None,
        first_token_timeout: float | None = None,
        total_timeout: float | None = None,
        idle_timeout: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.http = http
        self.retry = retry
        self.idle_timeout = idle_timeout
        self.reporter = reporter
        self.count_tokens = count_tokens
        self.first_token_timeout = first_token_timeout
        self.total_timeout = total_timeout

    def send(self, path: str, body: dict, record: RequestRecord) -> RequestRecord:
        """POST ``body`` to ``path``, read the whole response into ``record``, report it once.

        Under a :class:`RetryPolicy`, a 429/503 attempt is reported as retried and the
        request is sent again after ``Retry-After``; ``record`` ends with the last attempt.
        """
        if IN_FLIGHT.closed:
            raise GreenletExit  # the test is stopping: send nothing new (nothing to count)
        payload = orjson.dumps(body)
        while True:
            try:
                self._attempt(path, body, payload, record)
            except GreenletExit:
                self.reporter.done(record)  # counted once, as "cancelled", then the stop goes on
                raise
            wait = self.retry.wait_for(record)
            if wait is None:
                self.reporter.done(record)
                return record
            self.reporter.retried(record.next_attempt())
            gevent.sleep(wait)

    def _attempt(self, path: str, body: dict, payload: bytes, record: RequestRecord) -> None:
        streamed = bool(body.get("stream"))
        record.request_bytes = len(payload)
        record.max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        first_timer = None
        if streamed and self.first_token_timeout:
            first_timer = gevent.Timeout(self.first_token_timeout, FirstTokenTimeout)
        total_timer = gevent.Timeout(self.total_timeout) if self.total_timeout else None
        timers = [t for t in (first_timer, total_timer) if t is not None]
        response: HTTPSocketPoolResponse | None = None
        record.wall_start = time.time()
        record.t_start = perf_counter()
        chunks = TimedChunks(lambda: b"")
        try:
            for timer in timers:
                timer.start()
            IN_FLIGHT.watch(chunks, record.t_start, self.idle_timeout)
            response = self.http.post(path, payload, "text/event-stream" if streamed else "application/json")
            sock = self.http.socket
            if sock is not None and sock.sent:
                record.t_start = sock.sent  # when the request really left, after any connect
            chunks._read = _line_reader(response)
            chunks._clock = arrival_clock(sock)
            self._read(response, chunks, path, streamed, record, first_timer)
        except GreenletExit:
            record.error = "cancelled: test stopped mid-request"
            raise
        except gevent.Timeout as exc:
            if exc is not total_timer:
                raise
            record.error = f"timeout: request took over {self.total_timeout:g} s"
        except FirstTokenTimeout:
            record.error = f"timeout: no first token within {self.first_token_timeout:g} s"
        except IdleTimeout:
            record.error = f"timeout: no bytes for {self.idle_timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - every transport failure is classified, never raised
            record.error = transport_error(exc, self.http)
        finally:
            IN_FLIGHT.unwatch()
            for timer in timers:
                timer.close()
            if record.error is not None or not record.t_end:
                record.t_end = perf_counter()
            self.http.finish(response)

    def _read(
        self,
        response: HTTPSocketPoolResponse,
        chunks: TimedChunks,
        path: str,
        streamed: bool,
        record: RequestRecord,
        first_timer: gevent.Timeout | None,
    ) -> None:
        reporter = self.reporter

        def on_first(rec: RequestRecord, ttft: float) -> None:
            if first_timer is not None:
                first_timer.close()
            reporter.first_token(rec, ttft)

        content_type = response.get("content-type") or ""
        record.request_id = response.get("x-request-id") or ""
        retry_after = response.get("retry-after")
        if retry_after and retry_after.strip().isdigit():
            record.retry_after = float(retry_after)
        consume_response(
            record, response.status_code, content_type, chunks, path, streamed,
            self.count_tokens, on_first, reporter.token,
        )


def _line_reader(response: HTTPSocketPoolResponse) -> Callable[[], bytes]:
    """Whatever body bytes are in, as soon as one whole line is: never waits for a buffer to fill.

    ``readline(b"\n")`` returns the moment a newline is buffered (LOCUST-NOTES section 2);
    the rest of what the same socket reads brought is taken along (it arrived at the same
    time), so a burst of events costs one call, not two per event. A partial line at the
    end is fine: the SSE parser joins pieces across chunks.
    """
    readline = response.readline
    buffered = response._body_buffer  # geventhttpclient's parsed-body buffer (pinned version)

    def read() -> bytes:
        line = readline(b"\n")
        if not buffered:
            return line
        rest = bytes(buffered)
        del buffered[:]
        return line + rest

    return read


def transport_error(exc: BaseException, http: StreamingHttp) -> str:
    """A short, stable reason for a failure below HTTP (groups well in Locust's failure table)."""
    where = str(http.target)
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused: {where}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host: {http.target.host}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout: connecting"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc.__class__.__name__}"
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.EPIPE:
        return "connection reset by server"
    name = exc.__class__.__name__
    if name in ("HTTPConnectionClosed", "HTTPParseError", "HTTPProtocolViolationError"):
        return "connection closed mid-response"
    return f"{name}: {' '.join(str(exc).split())[:120]}"
