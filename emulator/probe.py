"""A minimal HTTP/1.1 client that stamps each body chunk's arrival: to check the emulator itself.

It speaks just enough HTTP for the emulator (one request per connection, chunked or sized
bodies), so its own overhead stays far below the timing it measures.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson


@dataclass(slots=True)
class Exchange:
    """One request's response: reads are (perf_counter at arrival, payload bytes) pairs.

    `status` is 0 when the connection closed before a status line; `complete` is False when the
    body ended early.
    """

    status: int
    headers: dict[str, str]
    t_sent: float
    reads: list[tuple[float, bytes]] = field(default_factory=list)
    complete: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.reads)

    def json(self) -> Any:
        return orjson.loads(self.body)

    def events(self) -> list[tuple[float, bytes]]:
        """SSE `data:` payloads, each stamped with the arrival of the read that completed it."""
        out: list[tuple[float, bytes]] = []
        buffer = b""
        for t, data in self.reads:
            buffer += data
            *complete, buffer = buffer.split(b"\n\n")
            out += [(t, event.removeprefix(b"data: ")) for event in complete if event]
        return out


class Connection:
    """One kept-alive HTTP/1.1 connection, as load generators keep them; use `async with`."""

    def __init__(self, url: str) -> None:
        self._parts = urlsplit(url)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection(self._parts.hostname, self._parts.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._writer is not None:
            self._writer.close()

    async def post(
        self, path: str, body: bytes | dict[str, Any], timeout: float = 10.0, close: bool = False
    ) -> Exchange:
        """POST `body` (a dict is sent as JSON); the clock starts as the request is written."""
        assert self._reader is not None and self._writer is not None, "use the connection in `async with`"
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        closing = "Connection: close\r\n" if close else ""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n{closing}\r\n"
        ).encode()
        t_sent = time.perf_counter()
        self._writer.write(head + data)
        return await asyncio.wait_for(_read_response(self._reader, t_sent), timeout)


async def post(url: str, path: str, body: bytes | dict[str, Any], timeout: float = 10.0) -> Exchange:
    """One request on a fresh connection, closed afterwards."""
    async with Connection(url) as connection:
        return await connection.post(path, body, timeout, close=True)


async def _read_response(reader: asyncio.StreamReader, t_sent: float) -> Exchange:
    status_line = await reader.readline()
    if not status_line:
        return Exchange(0, {}, t_sent)  # closed before any response: status 0, incomplete
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    exchange = Exchange(int(status_line.split()[1]), headers, t_sent)
    try:
        if headers.get("transfer-encoding") == "chunked":
            await _read_chunked(reader, exchange)
        else:
            data = await reader.readexactly(int(headers.get("content-length", "0")))
            exchange.reads.append((time.perf_counter(), data))
            exchange.complete = True
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        exchange.complete = False
    return exchange


async def _read_chunked(reader: asyncio.StreamReader, exchange: Exchange) -> None:
    while True:
        size_line = (await reader.readline()).strip()
        if not size_line:
            raise ConnectionError("connection closed inside the chunked body")
        size = int(size_line, 16)
        if size == 0:
            break
        data = await reader.readexactly(size + 2)
        exchange.reads.append((time.perf_counter(), data[:-2]))
    await reader.readexactly(2)
    exchange.complete = True
