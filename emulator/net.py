"""Network plumbing: the listening socket, and when each request arrived."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable


def listen(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening socket on host:port (port 0: a free one) and its http:// URL."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return sock, f"http://{shown}:{bound_port}"


class ArrivalClock:
    """When each connection last received bytes.

    A request's t0 is its arrival, not the moment its handler got to run: in a burst, handlers
    wait for each other on the one event loop, and that wait must count as server time.
    """

    def __init__(self) -> None:
        self._last: dict[object, float] = {}

    def arrival(self, transport: asyncio.BaseTransport | None, now: float) -> float:
        return min(now, self._last.get(transport, now)) if transport is not None else now

    def protocol_factory(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _StampingProtocol(make(), self._last)


class _StampingProtocol(asyncio.Protocol):
    """Wraps aiohttp's protocol, noting the time of each data_received before passing it on."""

    def __init__(self, inner: asyncio.Protocol, last: dict[object, float]) -> None:
        self._inner = inner
        self._last = last
        self._transport: object = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._last[self._transport] = time.perf_counter()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._last.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
