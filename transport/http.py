"""HTTP for streamed requests, on geventhttpclient: headers in, then lines as they arrive.

``readline(b"\\n")`` returns as soon as a newline is buffered, so every SSE line is
stamped when its bytes arrive (LOCUST-NOTES section 2); readers that fill a buffer first
(``read(n)``, ``iter_content``) would batch tokens and ruin TTFT and ITL.
"""

from __future__ import annotations

import contextlib
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

    __slots__ = ("_sock", "rx_time", "sent", "_reading", "_stamps")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.rx_time = 0.0
        self.sent = 0.0
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
            self.sent, self._reading = perf_counter(), False
        self._sock.sendall(data, flags)

    def recv(self, size: int, flags: int = 0) -> bytes:
        self._reading = True
        if flags or not self._stamps:
            return self._sock.recv(size, flags)
        data, ancillary, _, _ = self._sock.recvmsg(size, _ANCILLARY)
        self.rx_time = 0.0
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                seconds, nanos = _TIMESPEC.unpack_from(payload)
                self.rx_time = seconds + nanos * 1e-9
        return data

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


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
        self._client = self._connect()

    def _connect(self) -> HTTPClient:
        client = HTTPClient(self.target.host, self.target.port, **self._kw)
        pool = client._connection_pool  # geventhttpclient's pool (pinned version): stamp its sockets
        get_socket = pool.get_socket

        def stamped_socket() -> StampedSocket:
            sock = get_socket()
            if not isinstance(sock, StampedSocket):
                sock = StampedSocket(sock)
            self.socket = sock
            return sock

        pool.get_socket = stamped_socket
        return client

    def post(self, path: str, body: bytes, accept: str) -> HTTPSocketPoolResponse:
        """Send a JSON body; return the response with its headers read."""
        headers = {**self._headers, "Accept": accept}
        return self._client.request("POST", self.target.prefix + path, body=body, headers=headers)

    def preconnect(self) -> None:
        """Open the connection ahead of the first request (errors wait for that request)."""
        pool = self._client._connection_pool
        with contextlib.suppress(OSError):
            pool.return_socket(pool.get_socket())

    def finish(self, response: HTTPSocketPoolResponse | None) -> None:
        """Give the connection back, or drop it when the body was not read to its end."""
        if response is not None and response.message_complete:
            response.release()
            return
        self._client.close()
        self._client = self._connect()

    def close(self) -> None:
        self._client.close()
