"""Per-endpoint chunk parsers: one parsed JSON chunk in, the token text it carries out.

The streaming loop (:mod:`streaming.stream`) exists once; endpoints differ only here.
A parser records ``usage`` and ``finish_reason`` wherever they appear (their own chunk,
or the same chunk as the last content, as vLLM and ``transformers serve`` do) and raises
:class:`StreamError` for an error sent inside the stream.
"""

from __future__ import annotations

from collections.abc import Callable

from streaming.record import RequestRecord

ChunkParser = Callable[[dict, RequestRecord], str | None]


class StreamError(Exception):
    """The response broke the protocol or reported an error; ``str()`` is the grouped reason."""


MESSAGE_LIMIT = 160
"""Characters of a server's error message kept in a failure reason (room for its first sentence)."""


def error_message(error: object) -> str:
    """A one-line message from an OpenAI ``error`` object, a string, or FastAPI's ``detail``."""
    if isinstance(error, dict):
        error = error.get("message") or error.get("detail") or error.get("type") or error
    return shorten(" ".join(str(error).split()), MESSAGE_LIMIT)


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: cut after a whole word, with "…", when longer.

    A word longer than half the limit (a base64 blob, a URL) is cut where the limit falls.
    """
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if text[limit - 1] != " ":
        space = head.rfind(" ")
        if space > limit // 2:
            head = head[:space]
    return head.rstrip() + "…"


def _common(obj: dict, record: RequestRecord) -> dict | None:
    """Handle the parts every endpoint shares; return the first choice, if any."""
    if "error" in obj:
        raise StreamError(f"error in stream: {error_message(obj['error'])}")
    usage = obj.get("usage")
    if usage:
        record.usage = usage
    choices = obj.get("choices")
    if not choices:
        _note_timings(obj, record)
        return None
    choice = choices[0]
    reason = choice.get("finish_reason")
    if reason:
        record.finish_reason = reason
        _note_timings(obj, record)
    return choice


def _note_timings(obj: dict, record: RequestRecord) -> None:
    """Keep llama-server's ``timings`` (its ``predicted_n`` counts the output tokens even when no
    ``usage`` is sent); looked up only in finish and usage chunks, off the per-token path."""
    timings = obj.get("timings")
    if type(timings) is dict:
        record.timings = timings


def _tool_call_text(calls: list) -> str:
    parts = []
    for call in calls:
        function = call.get("function") or {}
        parts.append((function.get("name") or "") + (function.get("arguments") or ""))
    return "".join(parts)


def _message_text(part: dict) -> str | None:
    """The text a delta or message carries: content, reasoning content, or tool calls."""
    piece = part.get("content") or part.get("reasoning_content") or part.get("reasoning")
    if piece:
        return piece
    calls = part.get("tool_calls")
    return _tool_call_text(calls) if calls else None


def chat_chunk(obj: dict, record: RequestRecord) -> str | None:
    """A ``chat.completion.chunk``: content, reasoning content and tool-call deltas are tokens."""
    choice = _common(obj, record)
    delta = choice.get("delta") if choice is not None else None
    return _message_text(delta) if delta else None


def completion_chunk(obj: dict, record: RequestRecord) -> str | None:
    """A legacy ``text_completion`` chunk from ``/v1/completions``."""
    choice = _common(obj, record)
    return choice.get("text") if choice is not None else None


def chat_body(obj: dict, record: RequestRecord) -> str | None:
    """A whole non-streamed ``chat.completion``: the message's text."""
    choice = _common(obj, record)
    message = choice.get("message") if choice is not None else None
    return _message_text(message) if message else None


def completion_body(obj: dict, record: RequestRecord) -> str | None:
    """A whole non-streamed ``text_completion``."""
    return completion_chunk(obj, record)


PARSERS: dict[str, tuple[ChunkParser, ChunkParser]] = {
    "/v1/chat/completions": (chat_chunk, chat_body),
    "/v1/completions": (completion_chunk, completion_body),
}
"""Endpoint path -> (streamed chunk parser, non-streamed body parser)."""
