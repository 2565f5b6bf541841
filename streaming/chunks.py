"""Per-endpoint chunk parsers: one parsed JSON chunk in, recorded; the token text it carried out.

The streaming loop (:mod:`streaming.stream`) exists once; endpoints differ only here.
A parser keeps the text itself (answer and reasoning apart, on the record) and returns what
the chunk carried, so the loop knows a token came; it records ``usage`` and ``finish_reason``
wherever they appear (their own chunk, or the same chunk as the last content, as vLLM and
``transformers serve`` do), with the server's own timings where a server sends them, and
raises :class:`StreamError` for an error sent inside the stream.
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


def _common(obj: dict, record: RequestRecord) -> list | None:
    """Handle the parts every endpoint shares; return the choices, if any."""
    if "error" in obj:
        raise StreamError(f"error in stream: {error_message(obj['error'])}")
    usage = obj.get("usage")
    if usage:
        record.usage = usage
    choices = obj.get("choices")
    if not choices:
        _note_extras(obj, record)
        return None
    if type(choices) is not list or type(choices[0]) is not dict:
        raise StreamError("malformed stream chunk: choices is not a list of objects")
    reason = choices[0].get("finish_reason")
    if not reason and len(choices) > 1:  # n > 1: any choice may finish in this chunk
        reason = next((c["finish_reason"] for c in choices if type(c) is dict and c.get("finish_reason")),
                      None)
    if reason:
        record.finish_reason = reason
    if reason or usage or not record.token_times:
        _note_extras(obj, record)
    return choices


def _note_extras(obj: dict, record: RequestRecord) -> None:
    """Keep what some servers add beside the choices, looked up only in the chunks before the
    first token, in finish and usage chunks and in choice-less ones (off the per-token path):

    - llama-server's ``timings`` (its ``predicted_n`` counts the output tokens when no ``usage``
      is sent);
    - MindIE's own timings, at the top level or inside ``usage``, in a stream chunk or the whole
      body: ``prefill_time`` (ms to its first token) and ``decode_time_arr`` (ms between tokens);
    - MindIE's ``full_text`` (the answer so far, when the body asked ``fullTextEnabled``).
    The last value sent wins.
    """
    timings = obj.get("timings")
    if type(timings) is dict:
        record.timings = timings
    usage = obj.get("usage")
    inner = usage if type(usage) is dict else {}
    prefill = obj.get("prefill_time", inner.get("prefill_time"))
    if _is_number(prefill):
        record.server_prefill_ms = float(prefill)
    decode = obj.get("decode_time_arr", inner.get("decode_time_arr"))
    if type(decode) is list:
        record.server_decode_ms = [float(ms) for ms in decode if _is_number(ms)]
    full_text = obj.get("full_text")
    if type(full_text) is str:
        record.full_text = full_text


def _is_number(value: object) -> bool:
    return type(value) in (int, float)


def _tool_call_text(calls: object) -> str:
    """A tool call's output text: its function's name and arguments (streamed piece by piece)."""
    if type(calls) is not list:
        return ""
    parts = []
    for call in calls:
        function = (call.get("function") if type(call) is dict else None) or {}
        parts.append(_text(function.get("name")) + _text(function.get("arguments")))
    return "".join(parts)


def _text(value: object) -> str:
    return value if type(value) is str else ""


def _take(part: dict, record: RequestRecord) -> str | None:
    """Record what a delta or message carries and return its text, or None when it carries none.

    Answer content and tool calls go to ``text_parts`` (the first one marks ``first_answer``),
    reasoning (``reasoning_content``, or ``reasoning`` as newer vLLM names it) to
    ``reasoning_parts``; a chunk of either kind is a token for TTFT and ITL.
    """
    content = part.get("content")
    if len(part) == 1 and content and type(content) is str:  # the usual delta: {"content": "..."}
        answer = content
        reasoning = ""
    else:
        reasoning = _text(part.get("reasoning_content")) or _text(part.get("reasoning"))
        answer = _text(content) + _tool_call_text(part.get("tool_calls"))
        if reasoning:
            record.reasoning_parts.append(reasoning)
        if not answer:
            return reasoning or None
    if record.first_answer < 0:
        record.first_answer = len(record.token_times)
    record.text_parts.append(answer)
    return reasoning + answer if reasoning else answer


def _take_all(choices: list, key: str, record: RequestRecord) -> str | None:
    """``n`` > 1: what every choice's ``key`` (delta or message) carries, joined."""
    pieces = []
    for choice in choices:
        part = choice.get(key) if type(choice) is dict else None
        piece = _take(part, record) if type(part) is dict and part else None
        if piece:
            pieces.append(piece)
    return "".join(pieces) or None


def chat_chunk(obj: dict, record: RequestRecord) -> str | None:
    """A ``chat.completion.chunk``: content, reasoning content and tool-call deltas are tokens.

    With ``n`` > 1 each choice's deltas are tokens of the one request (chunks of all choices on
    one timeline; ``usage`` counts every choice's tokens).

    The chunk nearly every token comes in, one choice whose delta is only ``content`` after
    the first answer token, with no finish, usage or error, is taken first: what
    :func:`chat_chunk_general` would do with it, without its calls.
    """
    try:  # JSON's other types fail one of these with a TypeError or ValueError
        (choice,) = obj["choices"]
        delta = choice["delta"]
        content = delta["content"]
    except (KeyError, TypeError, ValueError):
        return chat_chunk_general(obj, record)
    if (len(delta) == 1 and content and content.__class__ is str and record.first_answer >= 0
            and not choice.get("finish_reason") and not obj.get("usage") and "error" not in obj):
        record.text_parts.append(content)
        return content
    return chat_chunk_general(obj, record)


def chat_chunk_general(obj: dict, record: RequestRecord) -> str | None:
    """:func:`chat_chunk` for any chunk (its fast path is checked against this in tests)."""
    choices = _common(obj, record)
    if choices is None:
        return None
    if len(choices) > 1:
        return _take_all(choices, "delta", record)
    delta = choices[0].get("delta")
    return _take(delta, record) if type(delta) is dict and delta else None


def completion_chunk(obj: dict, record: RequestRecord) -> str | None:
    """A legacy ``text_completion`` chunk from ``/v1/completions`` (every choice's ``text``)."""
    choices = _common(obj, record)
    if choices is None:
        return None
    text = "".join(_text(choice.get("text")) for choice in choices)
    if not text:
        return None
    if record.first_answer < 0:
        record.first_answer = len(record.token_times)
    record.text_parts.append(text)
    return text


def chat_body(obj: dict, record: RequestRecord) -> str | None:
    """A whole non-streamed ``chat.completion``: every choice's message (answer, reasoning, tool calls)."""
    choices = _common(obj, record)
    if choices is None:
        return None
    _note_extras(obj, record)
    return _take_all(choices, "message", record)


def completion_body(obj: dict, record: RequestRecord) -> str | None:
    """A whole non-streamed ``text_completion``."""
    piece = completion_chunk(obj, record)
    _note_extras(obj, record)
    return piece


PARSERS: dict[str, tuple[ChunkParser, ChunkParser]] = {
    "/v1/chat/completions": (chat_chunk, chat_body),
    "/v1/completions": (completion_chunk, completion_body),
}
"""Endpoint path -> (streamed chunk parser, non-streamed body parser)."""
