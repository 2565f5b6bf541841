"""What one streamed response sends, in order: a pure list of events with their token counts.

No timing and no I/O here: the writer (server.py) turns each event's token count into a deadline.
Server-variant modes and stream faults are applied while the list is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from emulator.chunks import DONE, ChunkFormat
from emulator.config import EmulatorConfig

ERROR_MESSAGE = "emulated error in the middle of the stream"
CONTENT_FAULTS = ("malformed", "stall", "empty_choices")


class Event(NamedTuple):
    """One write: due when its `tokens` more tokens are generated (0: at once), after `pause_s`."""

    data: bytes
    tokens: int = 0
    pause_s: float = 0.0
    close: bool = False


@dataclass(frozen=True, slots=True)
class StreamShape:
    """Where usage goes and how a stream ends, per the server variant being emulated (README, "Servers")."""

    usage_in_finish: bool
    usage_separate: bool
    done: bool
    content_in_finish: bool

    @classmethod
    def of(cls, config: EmulatorConfig, include_usage: bool) -> StreamShape:
        mode = config.usage_mode
        return cls(
            usage_in_finish=mode == "in-finish",
            usage_separate=mode == "separate" or (mode == "auto" and include_usage),
            done=not config.no_done,
            content_in_finish=config.content_in_finish,
        )


def split_pieces(words: list[str], per_chunk: int) -> list[tuple[str, int]]:
    """Group words into chunk texts: the first token alone (as vLLM sends it), then `per_chunk` each."""
    if not words:
        return []
    rest = words[1:]
    groups = [rest[i : i + per_chunk] for i in range(0, len(rest), per_chunk)]
    return [(words[0], 1)] + [("".join(g), len(g)) for g in groups]


def stream_events(
    fmt: ChunkFormat,
    pieces: list[tuple[str, int]],
    usage: dict[str, int],
    shape: StreamShape,
    fault: str | None = None,
    stall_s: float = 0.0,
) -> list[Event]:
    """The events of one stream; `fault` is a stream fault name from config.FAULTS, or None."""
    events = [Event(data) for data in fmt.opening()]
    if fault in ("cut", "error_in_stream"):
        return events + _broken_off(fmt, pieces, fault)
    with_finish = fault != "no_finish"
    # A content fault needs a content chunk to act on, so it keeps the only token out of the finish chunk.
    can_carry = len(pieces) > 1 or (pieces and fault not in CONTENT_FAULTS)
    carried = pieces[-1] if shape.content_in_finish and with_finish and can_carry else None
    body = pieces[:-1] if carried else pieces
    events += [_content(fmt, text, n) for text, n in body]
    _apply_fault(fmt, events, len(events) - len(body), body, fault, stall_s)
    if with_finish:
        text, n = carried or (None, 0)
        events.append(Event(fmt.finish(text, usage if shape.usage_in_finish else None), n))
    if shape.usage_separate:
        events.append(Event(fmt.usage(usage)))
    if shape.done and fault != "no_done":
        events.append(Event(DONE))
    return events


def _content(fmt: ChunkFormat, text: str, tokens: int) -> Event:
    return Event(fmt.content(text), tokens)


def _broken_off(fmt: ChunkFormat, pieces: list[tuple[str, int]], fault: str) -> list[Event]:
    """About half the content, then either a dropped connection or an error event."""
    kept = [_content(fmt, text, n) for text, n in pieces[: max(1, len(pieces) // 2)]]
    if fault == "cut":
        kept[-1] = kept[-1]._replace(close=True)
        return kept
    return kept + [Event(fmt.stream_error(ERROR_MESSAGE))]


def _apply_fault(
    fmt: ChunkFormat,
    events: list[Event],
    first: int,
    body: list[tuple[str, int]],
    fault: str | None,
    stall_s: float,
) -> None:
    """Rewrite content events `events[first:]` (made from `body`) for the faults that touch content."""
    if not body:
        return
    middle = first + len(body) // 2
    text, n = body[len(body) // 2]
    if fault == "malformed":
        events[middle] = Event(fmt.malformed(text), n)
    elif fault == "stall":
        events[middle] = events[middle]._replace(pause_s=stall_s)
    elif fault == "empty_choices":
        events[first:] = [Event(fmt.empty_choices(), n) for _, n in body]
