"""SSE events with arrival times, on top of sseclient-py.

sseclient-py does the WHATWG parsing (CRLF/CR/LF line ends, comments, fields,
multi-line ``data:``); :class:`SSEDecoder` stitches events across reads and takes the
common one-line shape on a fast path. What sseclient-py lacks is time:
:class:`TimedChunks` stamps each chunk with ``perf_counter()`` the moment the read
returns, so an event's time is the arrival of the bytes that completed it.

Feed it a reader that returns as soon as bytes are there (the transport hands on each socket
read), never one that waits to fill a buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from time import perf_counter

from sseclient import SSEClient

Push = Callable[[Callable[[bytes, float], None]], None]
"""A source that calls its argument with each ``(chunk, arrival time)`` until the body ends
(raising what the reading raised), and returns then."""


class TimedChunks:
    """An iterable of byte chunks that remembers when the last one came.

    Two kinds of source: ``read()`` returning bytes, each stamped by ``clock()`` when the read
    returns (``clock`` is a parameter so tests can script time); or, through
    :meth:`attach_stamped`, a source that stamps each piece itself with its bytes' arrival (the
    transport's kernel stamps). Either returns ``b""`` at the end of the body. The source may
    be attached after construction: a request's timeouts watch ``t_last`` from its send on,
    before the response (and so its reader) exists.

    A stamped source may also push: :meth:`feed_into` then has it call the consumer with each
    piece from the event loop the moment its read is in, so the reading greenlet is not woken
    once a token (see :class:`Push`).
    """

    __slots__ = ("_read", "_clock", "_stamped", "_push", "t_last", "nbytes")

    def __init__(
        self, read: Callable[[], bytes] | None = None, clock: Callable[[], float] = perf_counter
    ) -> None:
        self._read = read or _nothing
        self._clock = clock
        self._stamped: Callable[[], tuple[bytes, float]] | None = None
        self._push: Push | None = None
        self.t_last = 0.0
        """Arrival time of the most recent chunk."""
        self.nbytes = 0
        """Bytes received so far."""

    def attach(self, read: Callable[[], bytes], clock: Callable[[], float] = perf_counter) -> None:
        """Read chunks from ``read``, each stamped by ``clock()`` when it returns."""
        self._read, self._clock, self._stamped = read, clock, None

    def attach_stamped(self, read: Callable[[], tuple[bytes, float]], push: Push | None = None) -> None:
        """Read ``(chunk, arrival time)`` pairs from ``read``: the source's stamps are kept.
        ``push``: the same pieces handed on by the source itself (:meth:`feed_into`)."""
        self._stamped, self._push = read, push

    def feed_into(self, take: Callable[[bytes, float], None]) -> None:
        """Hand each chunk and its arrival time to ``take`` until the body ends.

        ``take`` keeps ``t_last`` and ``nbytes`` itself (as
        :meth:`streaming.stream.EventReader.take` does), so a pushing source calls it straight
        from the event loop: one call a read, not a wrapper and then the consumer.
        """
        push = self._push
        if push is not None:
            push(take)
            return
        for chunk, t in self._pieces():
            take(chunk, t)

    def __iter__(self) -> Iterator[bytes]:
        for chunk, t in self._pieces():
            self.t_last = t
            self.nbytes += len(chunk)
            yield chunk

    def _pieces(self) -> Iterator[tuple[bytes, float]]:
        stamped = self._stamped
        if stamped is not None:
            while True:
                chunk, t = stamped()
                if not chunk:
                    return
                yield chunk, t
        read = self._read
        clock = self._clock
        while True:
            chunk = read()
            if not chunk:
                return
            yield chunk, clock()

    def close(self) -> None:
        """Part of the event-source protocol sseclient-py expects; the transport owns the socket."""


def _nothing() -> bytes:
    return b""


class SSEDecoder:
    """Byte chunks in, the ``data`` of each complete event out (as bytes); no I/O.

    Events split across reads wait for their end; several events in one read all come
    out of that read. The common shape, blocks of exactly one ``data: ...`` line ended by
    a blank line with ``\n`` line ends (every server recorded in ``tests/fixtures/transcripts``),
    is cut with ``bytes.split``; any other block (CR or CRLF line ends, comments, keep-alives,
    ``event:``/``id:``/``retry:`` fields, multi-line data) goes through sseclient-py's
    parser. Measured, sseclient-py costs ~2.3 µs per event against ~0.3 µs here, on the
    per-token path that caps the whole tool (README, Performance). The read a server writing
    token by token sends, one such block alone, is cut before it gets here
    (:meth:`streaming.stream.EventReader.take`, checked against :meth:`feed` in tests).
    """

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = b""
        """The start of an event whose end has not come yet (empty between events)."""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events completed by ``chunk``."""
        data = self.pending + chunk if self.pending else chunk
        end = _last_boundary(data)
        if end < 0:
            self.pending = data
            return []
        complete, self.pending = data[:end], data[end:]
        if complete.find(b"\r") >= 0:
            return _parse(complete)
        out: list[bytes] = []
        for block in complete.split(b"\n\n"):
            if block.startswith(b"data: ") and block.find(b"\n") < 0:
                out.append(block[6:])
            elif block:
                out.extend(_parse(block + b"\n\n"))
        return out

    def end(self) -> list[bytes]:
        """Events left when the body ends without a final blank line."""
        rest, self.pending = self.pending, b""
        return _parse(rest) if rest.strip() else []


def _last_boundary(data: bytes) -> int:
    """Index just past the last blank line (the end of the last complete event), or -1."""
    if data.endswith(b"\n\n"):  # the usual read: whole events, LF line ends
        return len(data)
    best = -1
    for separator in (b"\n\n", b"\r\r", b"\r\n\r\n"):
        at = data.rfind(separator)
        if at >= 0:
            best = max(best, at + len(separator))
    return best


def _parse(text: bytes) -> list[bytes]:
    """Complete events parsed by sseclient-py (WHATWG rules)."""
    return [event.data.encode() for event in SSEClient([text]).events()]


def chunks_from_bytes(pieces: list[bytes], times: list[float] | None = None) -> TimedChunks:
    """A :class:`TimedChunks` over fixed byte pieces (tests, transcripts, replays).

    With ``times``, the i-th piece is stamped ``times[i]``.
    """
    it = iter(pieces)
    stamps = iter(times) if times is not None else None

    def read() -> bytes:
        return next(it, b"")

    def clock() -> float:
        return next(stamps) if stamps is not None else perf_counter()

    return TimedChunks(read, clock)
