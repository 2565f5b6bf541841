"""HTTP for streamed requests, on geventhttpclient: headers in, then lines as they arrive.

``readline(b"\\n")`` returns as soon as a newline is buffered, so every SSE line is
stamped when its bytes arrive; readers that fill a buffer first (``read(n)``,
``iter_content``) would batch tokens and ruin TTFT and ITL.

A kept-alive connection may have been closed by the server while it sat in the pool:
llama-server closes the socket right after each streamed response although it sends
``Keep-Alive: timeout=5, max=100``, and a client that reuses it at once lost 3-20 % of its
streamed requests as false failures (README, "Servers"). So a pooled connection is checked
for a close before it is reused (:func:`closed_by_peer`), and :meth:`StreamingHttp.unanswered_reuse`
tells the client when a request failed on a reused connection before any response byte came,
so it can be sent once more on a fresh one.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from urllib.parse import urlsplit

from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPSocketPoolResponse

SO_TIMESTAMPNS = 35  # Linux (x86-64, arm64): the kernel stamps each packet's arrival; SCM_TIMESTAMPNS too
_TIMESPEC = struct.Struct("qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0


class StampedSocket:
    """A socket that notes when a request left and when each read's bytes arrived.

    ``sent`` is ``perf_counter()`` at the first send after the last read: the moment the
    current request was handed to the kernel (connecting and waiting for a pooled
    connection come before it). ``rx_time`` is the kernel's arrival time of the last
    read's bytes (``SO_TIMESTAMPNS``, as a ``time.time()`` value) or 0.0 when there is none
    (TLS, other platforms): a stamp taken in Python when ``recv`` returns is late by however
    long the event loop was busy with other streams; the kernel's is not.
    """

    __slots__ = ("_sock", "rx_time", "sent", "received", "_reading", "_stamps")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.rx_time = 0.0
        self.sent = 0.0
        self.received = 0
        """Bytes read since the current request was sent (0: the server has not answered)."""
        self._reading = True
        self._stamps = False
        if _ANCILLARY and sys.platform.startswith("linux") and not hasattr(sock, "_sslobj"):
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self._stamps = True
            except OSError:
                pass

    def sendall(self, data: bytes, flags: int = 0) -> None:
        if self._reading:
            self.sent, self.received, self._reading = perf_counter(), 0, False
        self._sock.sendall(data, flags)

    def recv(self, size: int, flags: int = 0) -> bytes:
        self._reading = True
        if flags or not self._stamps:
            data = self._sock.recv(size, flags)
            if not flags & socket.MSG_PEEK:
                self.received += len(data)
            return data
        data, ancillary, _, _ = self._sock.recvmsg(size, _ANCILLARY)
        self.received += len(data)
        self.rx_time = 0.0
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                seconds, nanos = _TIMESPEC.unpack_from(payload)
                self.rx_time = seconds + nanos * 1e-9
        return data

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def closed_by_peer(sock: StampedSocket) -> bool:
    """True when an idle pooled connection cannot carry another request.

    An idle kept-alive socket has nothing to read; readable means the server closed it (EOF),
    reset it, or sent bytes no request asked for. A zero-timeout ``poll`` never blocks (a
    ``recv`` with ``MSG_DONTWAIT`` would, on a gevent socket, wait instead of failing), and is
    what urllib3's ``is_connection_dropped`` does.
    """
    try:
        fd = sock.fileno()
        if fd < 0:
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def arrival_clock(sock: StampedSocket | None) -> Callable[[], float]:
    """A clock for a response's reads: the kernel's arrival time of the last read's bytes on
    the ``perf_counter()`` scale where the socket has it, else ``perf_counter()`` at return."""
    if sock is None or not sock._stamps:
        return perf_counter
    offset = time.time() - perf_counter()

    def clock() -> float:
        now = perf_counter()
        rx = sock.rx_time
        return min(rx - offset, now) if rx else now

    return clock


@dataclass(frozen=True, slots=True)
class Target:
    """Where requests go: scheme, host, port and an optional path prefix (e.g. a gateway's)."""

    scheme: str
    host: str
    port: int
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> Target:
        """Parse ``http(s)://host[:port][/prefix]``; ``ValueError`` names the bad value."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--host {url!r}: expected http://HOST[:PORT] or https://HOST[:PORT]")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"--host {url!r}: bad port") from None
        prefix = parts.path.rstrip("/")
        if prefix.endswith("/v1"):
            prefix = prefix[:-3]
        return cls(parts.scheme, parts.hostname, port, prefix)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.prefix}"


class StreamingHttp:
    """One kept-alive connection to the target (one per simulated user).

    ``post`` returns once the status line and headers are in; the caller reads the body
    line by line with ``response.readline(b"\\n")`` and must hand the response back to
    :meth:`finish`, which reuses the connection only when the body was read to its end.
    """

    def __init__(
        self,
        target: Target,
        headers: dict[str, str],
        connect_timeout: float = 10.0,
        verify_tls: bool = True,
    ) -> None:
        self.target = target
        self._headers = {
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
            **headers,
        }
        self._kw = {
            "connection_timeout": connect_timeout,
            # No per-read socket timeout: gevent arms a timer for every blocking read, ~10 µs a
            # token on this path; the client's IdleWatchdog enforces the idle timeout instead.
            "network_timeout": None,
            "concurrency": 1,
            "block_size": 65536,
        }
        if target.scheme == "https":
            self._kw["ssl"] = True
            if not verify_tls:
                self._kw["insecure"] = True
                self._kw["ssl_options"] = {"cert_reqs": ssl.CERT_NONE}
        self.socket: StampedSocket | None = None
        """The socket of the latest request (its send and arrival stamps)."""
        self.reused = False
        """True when the latest request went out on a connection an earlier exchange left open."""
        self.dropped = 0
        """Kept-alive connections found closed by the server before reuse, and replaced."""
        self._kept = False
        """True while the connection of the last exchange waits in the pool for the next one."""
        self._client = self._connect()

    def _connect(self) -> HTTPClient:
        client = HTTPClient(self.target.host, self.target.port, **self._kw)
        pool = client._connection_pool  # geventhttpclient's pool (pinned version): stamp its sockets
        get_socket = pool.get_socket

        def stamped_socket() -> StampedSocket:
            sock = get_socket()
            reused = isinstance(sock, StampedSocket)  # a fresh socket is the pool's own, unwrapped
            if reused and closed_by_peer(sock):
                pool.release_socket(sock)
                sock, reused = get_socket(), False
            if self._kept and not reused:  # closed by the server while pooled (seen here or by the pool)
                self.dropped += 1
            self._kept = False
            if not isinstance(sock, StampedSocket):
                sock = StampedSocket(sock)
            self.socket, self.reused = sock, reused
            return sock

        pool.get_socket = stamped_socket
        return client

    def unanswered_reuse(self) -> bool:
        """True when the latest request failed on a reused connection before any response byte.

        The server closed that connection before it read the request (llama-server does after
        every streamed response) or as it arrived: it was not answered, so it may be sent once
        more on a fresh connection (curl and Go's net/http do the same).
        """
        sock = self.socket
        return self.reused and sock is not None and sock.received == 0

    def post(self, path: str, body: bytes, accept: str) -> HTTPSocketPoolResponse:
        """Send a JSON body; return the response with its headers read."""
        headers = {**self._headers, "Accept": accept}
        self.socket, self.reused = None, False
        return self._client.request("POST", self.target.prefix + path, body=body, headers=headers)

    def preconnect(self) -> None:
        """Open the connection ahead of the first request (errors wait for that request)."""
        pool = self._client._connection_pool
        with contextlib.suppress(OSError):
            pool.return_socket(pool.get_socket())
            self._kept = True

    def finish(self, response: HTTPSocketPoolResponse | None) -> None:
        """Give the connection back, or drop it when the body was not read to its end."""
        if response is not None and response.message_complete:
            self._kept = not response.should_close()
            response.release()
            return
        self._kept = False
        self._client.close()
        self._client = self._connect()

    def close(self) -> None:
        self._client.close()
