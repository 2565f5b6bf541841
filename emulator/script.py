"""What one streamed response sends, in order: a pure list of events with their token counts.

No timing and no I/O here: the writer (server.py) turns each event's token count into a deadline.
Server-variant modes and stream faults are applied while the list is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from emulator.chunks import DONE, ChunkFormat, with_fields
from emulator.config import EmulatorConfig
from emulator.reply import Choice, call_id

ERROR_MESSAGE = "emulated error in the middle of the stream"
CONTENT_FAULTS = ("malformed", "stall", "empty_choices")


class Event(NamedTuple):
    """One write: due when its `tokens` more tokens are generated (0: at once), after `pause_s`.

    `render`, when given, makes the bytes at the moment the event is due (fields known only then).
    """

    data: bytes
    tokens: int = 0
    pause_s: float = 0.0
    close: bool = False
    render: Callable[[], bytes] | None = None


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
        if config.mindie:  # usage rides in every chunk, the finish chunk's included
            return cls(True, False, not config.no_done, config.content_in_finish)
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
    usage: dict[str, Any],
    shape: StreamShape,
    fault: str | None = None,
    stall_s: float = 0.0,
    reasoning: list[tuple[str, int]] | None = None,
    reason: str = "length",
    tool: str | None = None,
) -> list[Event]:
    """The events of one stream; `fault` is a stream fault name from config.FAULTS, or None.

    `reasoning` pieces stream before the answer's; with `tool`, the answer `pieces` are that
    call's arguments, after a first delta naming it (counted as one token); `reason` is the
    finish reason.
    """
    events = [Event(data) for data in fmt.opening()]
    events += [Event(fmt.reasoning(text, n), n) for text, n in reasoning or ()]
    if tool is not None:
        events.append(Event(fmt.tool_call(tool, call_id()), 1))
    if fault in ("cut", "error_in_stream"):
        return events + _broken_off(fmt, pieces, fault)
    with_finish = fault != "no_finish"
    # A content fault needs a content chunk to act on, so it keeps the only token out of the finish chunk.
    can_carry = len(pieces) > 1 or (pieces and fault not in CONTENT_FAULTS)
    carried = pieces[-1] if shape.content_in_finish and with_finish and can_carry and tool is None else None
    body = pieces[:-1] if carried else pieces
    make = fmt.content if tool is None else fmt.tool_arguments
    events += [Event(make(text, n), n) for text, n in body]
    _apply_fault(fmt, events, len(events) - len(body), body, fault, stall_s)
    if with_finish:
        text, n = carried or (None, 0)
        events.append(_finish(fmt, fmt.finish(text, usage if shape.usage_in_finish else None, reason), n))
    if shape.usage_separate:
        events.append(Event(fmt.usage(usage)))
    if shape.done and fault != "no_done":
        events.append(Event(DONE))
    return events


def _finish(fmt: ChunkFormat, data: bytes, tokens: int) -> Event:
    """The finish event; with the format's late fields (MindIE's timings), made when it is due."""
    late = fmt.finish_fields
    if late is None:
        return Event(data, tokens)
    return Event(data, tokens, render=lambda: with_fields(data, late()))


def choices_events(
    fmt: ChunkFormat, choices: list[Choice], usage: dict[str, Any], shape: StreamShape,
    per_chunk: int = 1,
) -> list[Event]:
    """The events of a stream of several choices (``n`` > 1), generated side by side: each decode
    step writes one chunk per choice still going (``index`` tells them apart), then every
    choice's finish chunk. Faults and ``--content-in-finish`` apply to single-choice streams only.
    """
    events = [Event(data) for data in fmt.opening()]
    tagged = [[("reasoning", w) for w in c.reasoning] + [("content", w) for w in c.answer] for c in choices]
    longest = max((len(t) for t in tagged), default=0)
    for at in range(0, longest, per_chunk):
        chunks = [fmt.choice_content(i, "".join(w for _, w in t[at:at + per_chunk]), t[at][0])
                  for i, t in enumerate(tagged) if at < len(t)]
        events.append(Event(b"".join(chunks), min(per_chunk, longest - at)))
    finishes = b"".join(fmt.choice_finish(i, c.finish) for i, c in enumerate(choices))
    events.append(Event(finishes))
    if shape.usage_separate or shape.usage_in_finish:
        events.append(Event(fmt.usage(usage)))
    if shape.done:
        events.append(Event(DONE))
    return events


def _broken_off(fmt: ChunkFormat, pieces: list[tuple[str, int]], fault: str) -> list[Event]:
    """About half the content, then either a dropped connection or an error event."""
    kept = [Event(fmt.content(text, n), n) for text, n in pieces[: max(1, len(pieces) // 2)]]
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
