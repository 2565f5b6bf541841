"""HTTP/1.1 for streamed requests over one kept-alive connection per simulated user.

Our own small client on public APIs (stdlib sockets and ``ssl``, gevent's waits and watchers,
``httptools`` for framing): :mod:`transport.wire` reads each socket the moment bytes arrive and
stamps them with the kernel's arrival time; :mod:`transport.http1` parses the response and
hands on every read's body at once.

A kept-alive connection may have been closed by the server while it sat idle: llama-server
closes the socket right after each streamed response although it sends ``Keep-Alive:
timeout=5, max=100``, and a client that reuses it at once lost 3-20 % of its streamed requests
as false failures (README, "Servers"). So an idle connection is checked for a close before it
is reused, and :meth:`StreamingHttp.unanswered_reuse` tells the client when a request failed on
a reused connection before any response byte came, so it can be sent once more on a fresh one.
"""

from __future__ import annotations

import contextlib
import ssl

from conf.target import Target
from transport.http1 import Response, request_head
from transport.tls import client_context
from transport.wire import Connection

__all__ = ["StreamingHttp", "Target", "Response"]


class StreamingHttp:
    """One kept-alive connection to the target (one per simulated user).

    :meth:`post` returns once the status line and headers are in; the caller reads the body
    with ``response.read()`` and hands the response back to :meth:`finish`, which keeps the
    connection only when the body was read to its end and the server allows it.
    """

    def __init__(
        self,
        target: Target,
        headers: dict[str, str],
        connect_timeout: float = 10.0,
        verify_tls: bool = True,
        ca_cert: str | None = None,
    ) -> None:
        self.target = target
        self._headers = {"User-Agent": "llm-locust", "Content-Type": "application/json",
                         "Accept-Encoding": "identity", **headers}
        self.connect_timeout = connect_timeout
        self._context: ssl.SSLContext | None = client_context(verify_tls, ca_cert) if target.tls else None
        self.socket: Connection | None = None
        """The connection of the latest request (its send and arrival stamps)."""
        self.reused = False
        """True when the latest request went out on a connection an earlier exchange left open."""
        self.dropped = 0
        """Kept-alive connections found closed by the server before reuse, and replaced."""
        self._idle: Connection | None = None
        """The connection the last exchange left open for the next one."""

    def _connection(self) -> Connection:
        conn, self._idle = self._idle, None
        if conn is not None and conn.closed_by_peer():
            conn.close()
            self.dropped += 1
            conn = None
        self.reused = conn is not None
        if conn is None:
            self.socket = None
            conn = Connection.open(self.target.host, self.target.port, self.connect_timeout, self._context)
        self.socket = conn
        return conn

    def unanswered_reuse(self) -> bool:
        """True when the latest request failed on a reused connection before any response byte.

        The server closed that connection before it read the request (llama-server does after
        every streamed response) or as it arrived: it was not answered, so it may be sent once
        more on a fresh connection (curl and Go's net/http do the same).
        """
        conn = self.socket
        return self.reused and conn is not None and conn.received == 0

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """Send one request on the kept connection (or a new one); return with the headers read.

        Redirects are answers like any other: never followed, so credentials go nowhere else.
        """
        self.socket, self.reused = None, False
        conn = self._connection()
        head = request_head(method, self.target.prefix + path, self.target.authority,
                            {**self._headers, **(headers or {})}, len(body) if body is not None else None)
        conn.start_reading()
        conn.send_request(head + body if body else head)
        response = Response(conn)
        response.read_headers()
        return response

    def post(self, path: str, body: bytes, accept: str) -> Response:
        """Send a JSON body; return the response with its headers read."""
        return self.request("POST", path, body, {"Accept": accept})

    def get(self, path: str, limit: int = 1 << 24) -> tuple[Response, bytes]:
        """A whole GET: the response and its body (up to ``limit`` bytes); the connection is kept."""
        response = None
        try:
            response = self.request("GET", path, headers={"Accept": "application/json"})
            return response, response.read_all(limit)
        finally:
            self.finish(response)

    def preconnect(self) -> None:
        """Open the connection ahead of the first request (errors wait for that request)."""
        if self._idle is None:
            try:
                self._idle = Connection.open(self.target.host, self.target.port, self.connect_timeout,
                                             self._context)
            except (OSError, ssl.SSLError):
                self._idle = None

    def finish(self, response: Response | None) -> None:
        """Keep the connection for the next request, or close it now when the body was not read to
        its end (a stream given up, an error) or the server will not take another request."""
        conn = self.socket
        if conn is None:
            return
        if response is not None and response.done_seen:
            with contextlib.suppress(Exception):  # the answer is complete; only the reuse is lost
                response.finish_after_done()
        conn.stop_reading()
        if response is not None and not response.should_close() and not conn.closed:
            self._idle = conn
            return
        conn.close()

    def close(self) -> None:
        for conn in (self._idle, self.socket):
            if conn is not None:
                conn.close()
        self._idle = None
