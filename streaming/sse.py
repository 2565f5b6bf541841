"""SSE events with arrival times, on top of sseclient-py.

sseclient-py does the WHATWG parsing (events split across reads, several events in
one read, CRLF/CR/LF line ends, comments, multi-line ``data:``). What it lacks is time:
:class:`TimedChunks` stamps each chunk with ``perf_counter()`` the moment the read
returns, so an event's time is the arrival of the bytes that completed it.

Feed it a reader that returns as soon as bytes are there (for geventhttpclient,
``response.readline(b"\\n")``), never one that waits to fill a buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from time import perf_counter

from sseclient import SSEClient


class TimedChunks:
    """An iterable of byte chunks from ``read()`` that remembers when the last one came.

    ``read`` returns ``b""`` at the end of the body. ``clock`` is a parameter so tests can
    script time.
    """

    __slots__ = ("_read", "_clock", "t_last", "nbytes")

    def __init__(self, read: Callable[[], bytes], clock: Callable[[], float] = perf_counter) -> None:
        self._read = read
        self._clock = clock
        self.t_last = 0.0
        """Arrival time of the most recent chunk."""
        self.nbytes = 0
        """Bytes received so far."""

    def __iter__(self) -> Iterator[bytes]:
        read = self._read
        clock = self._clock
        while True:
            chunk = read()
            if not chunk:
                return
            self.t_last = clock()
            self.nbytes += len(chunk)
            yield chunk

    def close(self) -> None:
        """Part of the event-source protocol sseclient-py expects; the transport owns the socket."""


def iter_events(chunks: TimedChunks) -> Iterator[str]:
    """Yield the ``data`` of each SSE event as soon as it is complete.

    The arrival time of a yielded event is ``chunks.t_last`` at the moment it is yielded.
    """
    for event in SSEClient(chunks).events():
        yield event.data


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
