"""The timed stream writer: each event goes out when its tokens are due."""

from __future__ import annotations

import time

from aiohttp import web

from emulator.script import Event
from emulator.timing import Pacer, Schedule


class Player:
    """Writes a stream's events to the response when each is due.

    Events already due go out together in one write; the last write also ends the chunked body,
    unless the stream is cut. Without pacers (all delays zero) the whole stream is one write.
    """

    def __init__(self, response: web.StreamResponse, pacers: tuple[Pacer, Pacer] | None) -> None:
        self._response = response
        self._pacers = pacers
        self._pending: list[bytes] = []
        self._pending_tokens = 0
        self.sent_tokens = 0
        self.first_content_at: float | None = None  # perf_counter when the first token went out

    async def play(self, events: list[Event], schedule: Schedule) -> bool:
        """Write the events; returns False if the client went away before the end."""
        try:
            for event in events:
                first_token = schedule.tokens == 0 and event.tokens > 0
                due = schedule.advance(event.tokens, event.pause_s)
                if self._pacers is not None and due > time.perf_counter():
                    await self._flush()
                    await self._pacers[0 if first_token else 1].until(due)
                self._pending.append(event.data if event.render is None else event.render())
                self._pending_tokens += event.tokens
                if event.close:
                    await self._flush()
                    return True
            await self._flush(end=True)
        except ConnectionResetError:
            return False
        return True

    async def _flush(self, end: bool = False) -> None:
        if not self._pending and not end:
            return
        data = b"".join(self._pending)
        await (self._response.write_eof(data) if end else self._response.write(data))
        if self._pending_tokens and self.first_content_at is None:
            self.first_content_at = time.perf_counter()
        self.sent_tokens += self._pending_tokens
        self._pending_tokens = 0
        self._pending.clear()
