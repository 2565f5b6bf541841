"""The one streaming loop: timed SSE events -> chunk parser -> request record.

No HTTP library and no Locust here: the transport hands over a :class:`TimedChunks`
and the caller passes callbacks for the first token and each later token.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from streaming.chunks import PARSERS, ChunkParser, StreamError, error_message
from streaming.record import RequestRecord
from streaming.sse import SSEDecoder, TimedChunks

TokenCounter = Callable[[str], int]
OnToken = Callable[[RequestRecord, float], None]
"""Called with the record and the seconds since the previous token (TTFT for the first)."""


def read_stream(
    chunks: TimedChunks,
    parse: ChunkParser,
    record: RequestRecord,
    on_first: OnToken | None = None,
    on_token: OnToken | None = None,
) -> None:
    """Consume an SSE body into ``record``; raise :class:`StreamError` on a protocol error.

    Sets ``t_first`` and ``token_times`` as token-bearing events arrive (the parser keeps
    their text). ``[DONE]`` is noted, not required.
    """
    reader = EventReader(chunks, parse, record, on_first, on_token)
    chunks.feed_into(reader.take)
    reader.end()


class EventReader:
    """The events of each chunk, as it comes, into the record: the per-token path of the tool.

    :meth:`take` may run in the event loop (a pushing transport calls it there), so it only
    parses and records: no I/O, no waits.
    """

    __slots__ = ("_chunks", "_parse", "_record", "_on_first", "_on_token", "_decode")

    def __init__(self, chunks: TimedChunks, parse: ChunkParser, record: RequestRecord,
                 on_first: OnToken | None, on_token: OnToken | None) -> None:
        self._chunks, self._parse, self._record = chunks, parse, record
        self._on_first, self._on_token = on_first, on_token
        self._decode = SSEDecoder()

    def take(self, chunk: bytes, t: float) -> None:
        """One read's bytes and their arrival time ``t``: noted on the chunks (``t_last``,
        ``nbytes``), then every event they complete, each stamped ``t``.

        The read a server writing token by token sends, one whole ``data:`` line and its blank
        line, with no event pending, is cut here: what :meth:`SSEDecoder.feed` gives for it,
        without its call and its list (tests check the two agree).
        """
        chunks = self._chunks
        chunks.t_last = t
        chunks.nbytes += len(chunk)
        if (chunk.endswith(b"\n\n") and chunk.startswith(b"data: ") and not self._decode.pending
                and chunk.find(b"\n") == len(chunk) - 2 and chunk.find(b"\r") < 0):
            self._event(chunk[6:-2], t)
            return
        for data in self._decode.feed(chunk):
            self._event(data, t)

    def end(self) -> None:
        """The body is over: an event left without its final blank line still counts."""
        t = self._chunks.t_last
        for data in self._decode.end():
            self._event(data, t)

    def _event(self, data: bytes, t: float) -> None:
        """One event's ``data``, completed by bytes that arrived at ``t``."""
        record = self._record
        if data == b"[DONE]":
            record.done_marker = True
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise StreamError("malformed JSON in stream chunk") from None
        if type(obj) is not dict:
            raise StreamError("stream chunk is not a JSON object")
        if not self._parse(obj, record):
            return
        times = record.token_times
        if times:
            gap = t - times[-1]
            times.append(t)
            if self._on_token is not None:
                self._on_token(record, gap)
        else:
            record.t_first = t
            times.append(t)
            if self._on_first is not None:
                self._on_first(record, t - record.t_start)


def read_body(body: bytes, parse: ChunkParser, record: RequestRecord) -> None:
    """Parse a whole non-streamed JSON response into ``record``."""
    try:
        obj = loads_object(body)
    except ValueError as exc:
        raise StreamError(str(exc)) from None
    parse(obj, record)


def loads_object(body: bytes) -> dict:
    """Parse a JSON object; ``ValueError`` with a short reason otherwise."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError("response body is not JSON") from None
    if type(obj) is not dict:
        raise ValueError("response body is not a JSON object")
    return obj


def finish(record: RequestRecord, count_tokens: TokenCounter | None, streamed: bool = True) -> None:
    """Decide the outcome and the token counts once the body has ended.

    A stream is a success when it carried at least one token (answer, reasoning or tool call:
    a reasoning model may spend ``max_tokens`` thinking) and a ``finish_reason``; ``[DONE]``
    and ``usage`` are optional, as real servers differ. Input tokens are the server's
    ``usage.prompt_tokens`` when it sent one, else what the payload factory built. Output
    tokens: see :func:`count_output`; reasoning tokens: :func:`count_reasoning`.
    """
    if record.error is None:
        if not record.text_parts and not record.reasoning_parts:
            record.error = "empty response: no content"
        elif record.finish_reason is None:
            record.error = "stream ended without finish_reason"
    usage = record.usage if type(record.usage) is dict else {}
    record.output_tokens, record.output_tokens_source = count_output(record, usage, count_tokens, streamed)
    record.reasoning_tokens, record.reasoning_tokens_source = count_reasoning(record, usage, count_tokens)
    prompt = usage.get("prompt_tokens")
    record.input_tokens = prompt if isinstance(prompt, int) else record.payload_tokens


def count_output(
    record: RequestRecord, usage: dict, count_tokens: TokenCounter | None, streamed: bool
) -> tuple[int, str]:
    """Output tokens and where the count came from.

    The server's own count wins: ``usage.completion_tokens``, else llama-server's
    ``timings.predicted_n``. Without one, what arrived is counted: the tokenizer on the text,
    or the token-bearing chunks when there are more of them (each carries at least one token;
    a re-count of generated text can merge tokens). ``max_tokens`` is only a ceiling: a server
    that trims the output to fit its context stops for ``length`` well below it (vLLM sent 224
    tokens where 512 were asked), so taking ``finish_reason == "length"`` to mean
    ``max_tokens`` overcounted 2.3x and understated TPOT by as much.
    """
    completion = usage.get("completion_tokens")
    if isinstance(completion, int):
        return completion, "usage"
    predicted = (record.timings or {}).get("predicted_n")
    if isinstance(predicted, int):
        return predicted, "timings"
    chunks = len(record.token_times) if streamed else 0
    counted = 0
    if count_tokens is not None:
        counted = sum(count_tokens(text) for text in (record.text, record.reasoning_text) if text)
    count, source = (counted, "tokenizer") if counted >= chunks and counted else (chunks, "chunks")
    if record.max_tokens and count > record.max_tokens:
        return record.max_tokens, "max_tokens"
    return count, source


def count_reasoning(record: RequestRecord, usage: dict, count_tokens: TokenCounter | None) -> tuple[int, str]:
    """Reasoning tokens (part of the output tokens) and where the count came from.

    The server's ``usage.completion_tokens_details.reasoning_tokens`` when it sends one (a 0
    while reasoning text arrived is not believed); else the tokenizer on the reasoning text,
    or without a tokenizer the reasoning chunks. Never more than the output tokens.
    """
    details = usage.get("completion_tokens_details")
    sent = details.get("reasoning_tokens") if type(details) is dict else None
    if type(sent) is int and (sent > 0 or not record.reasoning_parts):
        return min(sent, record.output_tokens) if record.output_tokens else sent, "usage"
    if not record.reasoning_parts:
        return 0, ""
    if count_tokens is not None:
        count, source = count_tokens(record.reasoning_text), "tokenizer"
    else:
        count, source = len(record.reasoning_parts), "chunks"
    return min(count, record.output_tokens), source


def consume_response(
    record: RequestRecord,
    status: int,
    content_type: str,
    chunks: TimedChunks,
    path: str,
    streamed: bool,
    count_tokens: TokenCounter | None = None,
    on_first: OnToken | None = None,
    on_token: OnToken | None = None,
) -> None:
    """Read a whole response (status and headers already in) into ``record`` and decide its outcome.

    Protocol failures (an HTTP error status, HTML where SSE was expected, an error inside
    the stream, malformed JSON) end up in ``record.error`` as a short grouped reason; only
    transport exceptions (connection cut, timeout) propagate to the caller.
    """
    stream_parse, body_parse = PARSERS[path]
    record.status = status
    try:
        if status != 200:
            raise StreamError(http_error_reason(status, content_type, _read_all(chunks)))
        if not streamed:
            read_body(_read_all(chunks), body_parse, record)
        elif content_type.startswith("text/event-stream"):
            read_stream(chunks, stream_parse, record, on_first, on_token)
        else:
            raise StreamError(f"expected text/event-stream, got {content_type or 'no content-type'}")
    except StreamError as exc:
        record.error = str(exc)
    record.response_bytes = chunks.nbytes
    if chunks.t_last:
        record.t_end = chunks.t_last
    finish(record, count_tokens, streamed)


def _read_all(chunks: TimedChunks, limit: int = 1 << 24) -> bytes:
    parts = []
    for chunk in chunks:
        parts.append(chunk)
        if chunks.nbytes > limit:
            break
    return b"".join(parts)


def http_error_reason(status: int, content_type: str, body: bytes) -> str:
    """``"HTTP 429: <server message>"``, from a JSON error body, FastAPI's ``detail``, or text."""
    message = ""
    if "json" in content_type:
        try:
            obj = loads_object(body)
            message = error_message(obj.get("error") or obj.get("detail") or obj)
        except ValueError:
            pass
    if not message:
        message = error_message(body[:200].decode("utf-8", "replace")) if body else ""
    return f"HTTP {status}: {message}" if message else f"HTTP {status}"
