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

import httptools
import orjson
from gevent import GreenletExit

from streaming.record import RequestRecord
from streaming.sse import TimedChunks
from streaming.stream import consume_response
from transport.http import Response, StreamingHttp
from transport.inflight import CANCELLED_AT_STOP, CANCELLED_BEFORE_RETRY, Flight, InFlight, RequestCancelled
from transport.tls import describe
from transport.wire import ConnectionClosed


class StopRequested(Exception):  # noqa: N818 - a signal to the caller, not an error
    """The test is stopping: the request was not sent (there is nothing to count)."""


def _close_record(record: RequestRecord) -> None:
    """A request that ends without an attempt in progress: it ends now, after no wire time."""
    if not record.t_end:
        record.wall_start, record.t_start = time.time(), perf_counter()
        record.t_end = record.t_start


class Reporter(Protocol):
    """Receives a request's first token, each later token, and the finished record.

    ``first_token`` and ``token`` are called as a streamed body is read, in the event loop's
    own greenlet (the transport pushes each read there): they must not wait or do I/O.
    """

    def first_token(self, record: RequestRecord, ttft: float) -> None: ...

    def token(self, record: RequestRecord, gap: float) -> None: ...

    def done(self, record: RequestRecord) -> None: ...

    def retried(self, record: RequestRecord) -> None:
        """An attempt that failed with 429/503 and was sent again (counted apart from requests)."""


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
        inflight: InFlight | None = None,
    ) -> None:
        self.http = http
        self.retry = retry
        self.idle_timeout = idle_timeout
        self.reporter = reporter
        self.count_tokens = count_tokens
        self.first_token_timeout = first_token_timeout
        self.total_timeout = total_timeout
        self.inflight = inflight if inflight is not None else InFlight()
        """Where this client's requests are watched for timeouts and drained at a stop."""

    def send(self, path: str, body: dict, record: RequestRecord) -> RequestRecord:
        """POST ``body`` to ``path``, read the whole response into ``record``, report it once.

        Under a :class:`RetryPolicy`, a 429/503 attempt is reported as retried and the
        request is sent again after ``Retry-After``; ``record`` ends with the last attempt.
        When the stop gate is closed nothing is sent and :class:`StopRequested` is raised.
        """
        inflight = self.inflight
        if inflight.gate.closed:
            raise StopRequested
        payload = orjson.dumps(body)
        flight = Flight(self.idle_timeout, self.first_token_timeout if body.get("stream") else None,
                        self.total_timeout, label=record.traffic_class)
        inflight.begin(flight)
        try:
            self._send(path, body, payload, record, flight)
        except GreenletExit:  # Locust killed the user: count the request once, then let the kill go on
            record.error = record.error or CANCELLED_AT_STOP
            _close_record(record)
            self.reporter.done(record)
            raise
        finally:
            inflight.end(flight)
        return record

    def _send(self, path: str, body: dict, payload: bytes, record: RequestRecord, flight: Flight) -> None:
        while True:
            self._attempt(path, body, payload, record, flight)
            wait = self.retry.wait_for(record)
            if wait is None:
                break
            self.reporter.retried(record.next_attempt())
            flight.waiting = True
            try:
                if not self.inflight.gate.wait(wait):
                    record.error = CANCELLED_BEFORE_RETRY
            except RequestCancelled as exc:
                record.error = exc.reason
            if record.error is not None:
                _close_record(record)
                break
        self.reporter.done(record)

    def _attempt(self, path: str, body: dict, payload: bytes, record: RequestRecord, flight: Flight) -> None:
        """One attempt: sent, and sent once more when a reused connection was closed unanswered.

        The resend stays inside ``flight`` (so its timeouts and a stop still reach it) and the
        record keeps one outcome: the resent request's, timed from its own send.
        """
        streamed = bool(body.get("stream"))
        record.request_bytes = len(payload)
        record.max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        if not self._exchange(path, payload, streamed, record, flight, may_resend=True):
            record.resent = True
            self._exchange(path, payload, streamed, record, flight, may_resend=False)

    def _exchange(
        self, path: str, payload: bytes, streamed: bool, record: RequestRecord, flight: Flight,
        may_resend: bool,
    ) -> bool:
        """Send ``payload`` and read the whole response into ``record``.

        Returns False (``record`` untouched but for its start) when ``may_resend`` and the
        request failed on a reused connection before any byte of a response: the server had
        closed it, so the request was never answered and may go out again.
        """
        response: Response | None = None
        record.wall_start, record.t_start, record.t_end = time.time(), perf_counter(), 0.0
        chunks = TimedChunks()
        flight.attempt(record.t_start, lambda: chunks.t_last, lambda: bool(record.token_times))
        try:
            response = self.http.post(path, payload, "text/event-stream" if streamed else "application/json")
            conn = self.http.socket
            if conn is not None and conn.sent:
                record.t_start = conn.sent  # when the request really left, after any connect
            chunks.attach_stamped(response.read, response.push)  # each read's body, stamped with its arrival
            self._read(response, chunks, path, streamed, record)
        except RequestCancelled as exc:
            record.error = exc.reason
        except Exception as exc:  # noqa: BLE001 - every transport failure is classified, never raised
            if may_resend and self.http.unanswered_reuse():
                return False
            record.error = transport_error(exc, self.http)
        finally:
            if record.error is not None or not record.t_end:
                record.t_end = perf_counter()
            self.http.finish(response)
        return True

    def _read(
        self,
        response: Response,
        chunks: TimedChunks,
        path: str,
        streamed: bool,
        record: RequestRecord,
    ) -> None:
        reporter = self.reporter
        content_type = response.get("content-type") or ""
        record.request_id = response.get("x-request-id") or ""
        retry_after = response.get("retry-after")
        if retry_after and retry_after.strip().isdigit():
            record.retry_after = float(retry_after)
        consume_response(
            record, response.status_code, content_type, chunks, path, streamed,
            self.count_tokens, reporter.first_token, reporter.token,
        )


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
        return f"TLS error: {describe(exc)}"
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.EPIPE:
        return "connection reset by server"
    if isinstance(exc, ConnectionClosed | httptools.HttpParserError):
        conn = http.socket
        answered = conn is not None and conn.received > 0
        return "connection closed mid-response" if answered else "connection closed before the response"
    return f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:120]}"
