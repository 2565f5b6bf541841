"""An HTTP/1.1 response read off a :class:`~transport.wire.Connection`, parsed by ``httptools``.

``httptools`` (llhttp, the parser behind uvicorn) does the framing: status line, headers,
chunked or fixed-length bodies. A body read hands on everything one socket read brought as one
piece, with that read's arrival time, so every complete SSE event of a read is parsed at once.

An event stream ends at ``data: [DONE]``: some servers hold the body open after it, and a
client that read on turned a finished answer into an idle timeout. What follows ``[DONE]`` in
the same read is kept; the connection is reused only if the body also ended within
:data:`DONE_GRACE` (vLLM writes the last chunk of a chunked body just after ``[DONE]``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import gevent
import httptools

from transport.wire import Connection, ConnectionClosed

DONE_GRACE = 0.05
"""Seconds the end of a body may take to follow ``[DONE]`` for the connection to be reused."""
_DONE = re.compile(rb"(?:^|[\r\n])data: ?\[DONE\][ \t]*(?:\r\n|\n|\r)")
_NO_BODY = frozenset({204, 304})


def _has_done(data: bytes) -> bool:
    """True when ``data`` holds a ``data: [DONE]`` line. The line pattern is tried only around
    each ``[DONE]``: searched over a whole body read in one go (150 kB of 1,024 events) it
    tried every position, ~3 µs a token, a third of the client's time at zero delays."""
    at = data.find(b"[DONE]")
    while at >= 0:
        if _DONE.search(data, max(0, at - 8), at + 64):
            return True
        at = data.find(b"[DONE]", at + 1)
    return False


def request_head(
    method: str, path: str, authority: str, headers: dict[str, str], length: int | None
) -> bytes:
    """The request line and headers of one request, ready to send."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {authority}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Response:
    """One response: ``status_code`` and headers once :meth:`read_headers` returns, then the body.

    :meth:`read` gives ``(body bytes, arrival time)`` per socket read and ``(b"", t)`` at the end.
    ``message_complete`` says the body ended as its framing says (the connection may be reused).
    """

    __slots__ = ("_conn", "_parser", "_body", "status_code", "headers", "headers_complete",
                 "message_complete", "_close_delimited", "_event_stream", "_ended", "_t", "_tail",
                 "done_seen", "_keep_alive", "_sink")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self.status_code = 0
        self.headers: dict[str, str] = {}
        self.headers_complete = False
        self.message_complete = False
        self._close_delimited = False
        self._keep_alive = False
        self._event_stream = False
        self._ended = False
        self._t = 0.0
        self._tail = b""
        self.done_seen = False
        """An event stream's ``data: [DONE]`` was read: the body is over for the reader."""
        self._sink: Callable[[bytes, float], None] | None = None

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.status_code = self._parser.get_status_code()
        self.headers_complete = True
        self._keep_alive = self._parser.should_keep_alive()  # llhttp resets it once the message ends
        framed = "content-length" in self.headers or "chunked" in self.headers.get("transfer-encoding", "")
        self._close_delimited = not framed and self.status_code not in _NO_BODY and self.status_code >= 200
        self._event_stream = self.headers.get("content-type", "").startswith("text/event-stream")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.message_complete = True

    # reading
    def get(self, name: str, default: str | None = None) -> str | None:
        """A header's value (names are case-insensitive)."""
        return self.headers.get(name.lower(), default)

    def should_close(self) -> bool:
        """True when the connection cannot carry another request after this response."""
        return not self.message_complete or self._close_delimited or not self._keep_alive

    def read_headers(self) -> None:
        """Read until the status line and headers are in (body bytes that came along are kept)."""
        while not self.headers_complete:
            data, t = self._conn.read()
            if not data:
                raise ConnectionClosed("closed before the response headers")
            self._t = t
            self._parser.feed_data(data)

    def read(self) -> tuple[bytes, float]:
        """The body bytes of the next socket read (``b""`` once the body is over) and their time."""
        while not self._body:
            if self._ended or self.message_complete:
                self._ended = True
                return b"", self._t
            data, t = self._conn.read()
            self._t = t
            if not data:
                if self._close_delimited:
                    self.message_complete = self._ended = True
                    return b"", t
                raise ConnectionClosed("closed mid-body")
            self._parser.feed_data(data)
        return self._piece(), self._t

    def push(self, sink: Callable[[bytes, float], None]) -> None:
        """Hand the body to ``sink`` as :meth:`read` would return it, piece by piece, until it
        is over; the pieces after the first are handed on in the event loop as each read comes
        (:meth:`Connection.push`). Raises what reading or ``sink`` raised."""
        if self._body:
            sink(self._piece(), self._t)
        if self._ended or self.message_complete:
            self._ended = True
            return
        self._sink = sink
        try:
            self._conn.push(self._take)
        finally:
            self._sink = None

    def _take(self, data: bytes, t: float) -> bool:
        """One socket read while pushing: parsed, its body handed on; True once the body is over."""
        self._t = t
        if not data:
            if not self._close_delimited:
                raise ConnectionClosed("closed mid-body")
            self.message_complete = self._ended = True
            return True
        self._parser.feed_data(data)
        if self._body:
            self._sink(self._piece(), t)
        if self._ended or self.message_complete:
            self._ended = True
            return True
        return False

    def _piece(self) -> bytes:
        """The body bytes parsed so far, as one piece; notes an event stream's ``[DONE]``."""
        body = self._body
        piece = body[0] if len(body) == 1 else b"".join(body)
        body.clear()
        if self._event_stream:
            tail = self._tail
            seen = tail + piece if tail else piece
            if seen.find(b"[DONE]") >= 0 and _has_done(seen):
                self.done_seen = self._ended = True
            # Only a piece cut inside an event can hold the start of a [DONE] split over two reads.
            self._tail = b"" if piece.endswith(b"\n\n") else piece[-16:]
        return piece

    def read_all(self, limit: int = 1 << 24) -> bytes:
        """The whole body (up to ``limit`` bytes)."""
        parts, size = [], 0
        while size <= limit:
            piece, _ = self.read()
            if not piece:
                break
            parts.append(piece)
            size += len(piece)
        return b"".join(parts)

    def finish_after_done(self, grace: float = DONE_GRACE) -> None:
        """After ``[DONE]``, give the body ``grace`` seconds to end, so the connection can be reused."""
        if self.message_complete or not self.done_seen:
            return
        with gevent.Timeout(grace, False):
            while not self.message_complete:
                data, self._t = self._conn.read()
                if not data:
                    return
                self._parser.feed_data(data)
                self._body.clear()
