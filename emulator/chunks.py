"""Bytes of SSE events and JSON bodies, shaped like vLLM's, built cheaply per chunk.

The per-request part of every chunk (id, object, created, model) is serialized once; a content
chunk is then one prefix + the JSON-escaped text + one suffix. Reasoning chunks are built the
same way; tool-call chunks and the chunks of a second or later choice (``n`` > 1) are serialized
whole.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def with_fields(event: bytes, fields: dict[str, Any]) -> bytes:
    """An SSE event (``data: {...}\n\n``) with ``fields`` added at the top level of its JSON."""
    if not fields:
        return event
    return event[:-3] + b"," + orjson.dumps(fields)[1:-1] + b"}\n\n"


def error_body(status: int, kind: str, message: str) -> bytes:
    """An OpenAI-style error document."""
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": status}})


class ChunkFormat(ABC):
    """Formats one request's stream events and final body; subclasses give the choice shapes."""

    chunk_object = ""
    body_object = ""
    finish_fields: Callable[[], dict[str, Any]] | None = None
    """Top-level fields of the finish chunk (and the body), known only once it is due (MindIE's
    timings); None: no such fields."""

    def __init__(self, request_id: str, model: str, created: int) -> None:
        self.request_id = request_id
        self._header = {"id": request_id, "object": self.chunk_object, "created": created, "model": model}
        self._head = b"data: " + orjson.dumps(self._header)[:-1] + b',"choices":'
        self._content_pre, self._content_post = self._around(self._choice("\0", None))

    def _around(self, choice: dict[str, Any]) -> tuple[bytes, bytes]:
        """A choice serialized around its "\\0" marker: the event's bytes before and after the text."""
        pre, post = orjson.dumps(choice).split(b'"\\u0000"')
        return self._head + b"[" + pre, post + b"]}\n\n"

    @abstractmethod
    def _choice(self, text: str | None, finish_reason: str | None, index: int = 0) -> dict[str, Any]:
        """One streamed choice carrying `text` (None: no content field)."""

    @abstractmethod
    def _message_choice(self, text: str, finish_reason: str) -> dict[str, Any]:
        """The choice of the non-streamed body."""

    @abstractmethod
    def opening(self) -> list[bytes]:
        """Events sent at once, before any content."""

    def content(self, text: str, tokens: int = 1) -> bytes:
        """A chunk of ``tokens`` answer tokens (the count matters to formats that count)."""
        return self._content_pre + orjson.dumps(text) + self._content_post

    def reasoning(self, text: str, tokens: int = 1) -> bytes:
        """A chunk of reasoning (only chat formats reason)."""
        raise NotImplementedError(f"{type(self).__name__} has no reasoning chunks")

    def tool_call(self, name: str, call_id: str) -> bytes:
        """The first delta of a tool call (only chat formats call tools)."""
        raise NotImplementedError(f"{type(self).__name__} has no tool calls")

    def tool_arguments(self, text: str, tokens: int = 1) -> bytes:
        raise NotImplementedError(f"{type(self).__name__} has no tool calls")

    def choice_content(self, index: int, text: str, kind: str = "content") -> bytes:
        """A chunk of choice ``index`` (``n`` > 1): answer text, or reasoning when ``kind`` says so."""
        return self._event(orjson.dumps([self._choice(text, None, index)]))

    def choice_finish(self, index: int, reason: str) -> bytes:
        return self._event(orjson.dumps([self._choice(None, reason, index)]))

    def finish(self, text: str | None, usage: dict[str, Any] | None, reason: str = "length") -> bytes:
        tail = b',"usage":' + orjson.dumps(usage) if usage is not None else b""
        return self._event(orjson.dumps([self._choice(text, reason)]), tail)

    def usage(self, usage: dict[str, Any]) -> bytes:
        return self._event(b"[]", b',"usage":' + orjson.dumps(usage))

    def empty_choices(self) -> bytes:
        return self._event(b"[]")

    def malformed(self, text: str) -> bytes:
        """A content chunk whose JSON lacks its closing brackets."""
        return self.content(text).removesuffix(b"]}\n\n") + b"\n\n"

    def stream_error(self, message: str) -> bytes:
        return b"data: " + error_body(500, "InternalServerError", message) + b"\n\n"

    def body(self, text: str, usage: dict[str, Any], reason: str = "length") -> bytes:
        """The non-streamed response document."""
        document = {**self._header, "object": self.body_object,
                    "choices": [self._message_choice(text, reason)], "usage": usage}
        if self.finish_fields is not None:
            document.update(self.finish_fields())
        return orjson.dumps(document)

    def choices_body(
        self, messages: list[dict[str, Any]], reasons: list[str], usage: dict[str, Any]
    ) -> bytes:
        """The non-streamed document of several choices (or a message with reasoning or tool calls)."""
        choices = [self._indexed(self._message_choice("", reason), i, message)
                   for i, (message, reason) in enumerate(zip(messages, reasons, strict=True))]
        document = {**self._header, "object": self.body_object, "choices": choices, "usage": usage}
        if self.finish_fields is not None:
            document.update(self.finish_fields())
        return orjson.dumps(document)

    @staticmethod
    def _indexed(choice: dict[str, Any], index: int, fields: dict[str, Any]) -> dict[str, Any]:
        choice["index"] = index
        if "message" in choice:
            choice["message"] = {**choice["message"], **fields}
        else:
            choice.update(fields)
        return choice

    def _event(self, choices: bytes, tail: bytes = b"") -> bytes:
        return self._head + choices + tail + b"}\n\n"


class ChatChunkFormat(ChunkFormat):
    """chat.completion.chunk events: a role-only first delta, then reasoning, content or tool-call deltas."""

    chunk_object = "chat.completion.chunk"
    body_object = "chat.completion"

    def __init__(self, request_id: str, model: str, created: int,
                 reasoning_field: str = "reasoning_content") -> None:
        super().__init__(request_id, model, created)
        self.reasoning_field = reasoning_field
        choice = {"index": 0, "delta": {reasoning_field: "\0"}, "logprobs": None, "finish_reason": None}
        self._reasoning_pre, self._reasoning_post = self._around(choice)

    def _choice(self, text: str | None, finish_reason: str | None, index: int = 0) -> dict[str, Any]:
        delta = {} if text is None else {"content": text}
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    def reasoning(self, text: str, tokens: int = 1) -> bytes:
        return self._reasoning_pre + orjson.dumps(text) + self._reasoning_post

    def choice_content(self, index: int, text: str, kind: str = "content") -> bytes:
        delta = {self.reasoning_field if kind == "reasoning" else "content": text}
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
        return self._event(orjson.dumps([choice]))

    def tool_call(self, name: str, call_id: str) -> bytes:
        """The first tool-call delta: the call's id and function name, no arguments yet."""
        call = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        return self._tool_delta(call)

    def tool_arguments(self, text: str, tokens: int = 1) -> bytes:
        """A piece of the call's JSON arguments."""
        return self._tool_delta({"index": 0, "function": {"arguments": text}})

    def _tool_delta(self, call: dict[str, Any]) -> bytes:
        choice = {"index": 0, "delta": {"tool_calls": [call]}, "logprobs": None, "finish_reason": None}
        return self._event(orjson.dumps([choice]))

    def _message_choice(self, text: str, finish_reason: str) -> dict[str, Any]:
        message = {"role": "assistant", "content": text}
        return {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}

    def opening(self) -> list[bytes]:
        choice = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                  "finish_reason": None}
        return [self._event(orjson.dumps([choice]))]


class CompletionChunkFormat(ChunkFormat):
    """text_completion events (/v1/completions): no role chunk, `text` in each choice."""

    chunk_object = "text_completion"
    body_object = "text_completion"

    def _choice(self, text: str | None, finish_reason: str | None, index: int = 0) -> dict[str, Any]:
        return {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish_reason}

    def _message_choice(self, text: str, finish_reason: str) -> dict[str, Any]:
        return self._choice(text, finish_reason)

    def opening(self) -> list[bytes]:
        return []
