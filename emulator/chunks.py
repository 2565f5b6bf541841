"""Bytes of SSE events and JSON bodies, shaped like vLLM's, built cheaply per chunk.

The per-request part of every chunk (id, object, created, model) is serialized once; a content
chunk is then one prefix + the JSON-escaped text + one suffix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def error_body(status: int, kind: str, message: str) -> bytes:
    """An OpenAI-style error document."""
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": status}})


class ChunkFormat(ABC):
    """Formats one request's stream events and final body; subclasses give the choice shapes."""

    chunk_object = ""
    body_object = ""

    def __init__(self, request_id: str, model: str, created: int) -> None:
        self.request_id = request_id
        self._header = {"id": request_id, "object": self.chunk_object, "created": created, "model": model}
        self._head = b"data: " + orjson.dumps(self._header)[:-1] + b',"choices":'
        # Serialize a content choice around a marker, then split it into the bytes before and after.
        pre, post = orjson.dumps(self._choice("\0", None)).split(b'"\\u0000"')
        self._content_pre = self._head + b"[" + pre
        self._content_post = post + b"]}\n\n"

    @abstractmethod
    def _choice(self, text: str | None, finish_reason: str | None) -> dict[str, Any]:
        """One streamed choice carrying `text` (None: no content field)."""

    @abstractmethod
    def _message_choice(self, text: str, finish_reason: str) -> dict[str, Any]:
        """The choice of the non-streamed body."""

    @abstractmethod
    def opening(self) -> list[bytes]:
        """Events sent at once, before any content."""

    def content(self, text: str) -> bytes:
        return self._content_pre + orjson.dumps(text) + self._content_post

    def finish(self, text: str | None, usage: dict[str, int] | None, reason: str = "length") -> bytes:
        tail = b',"usage":' + orjson.dumps(usage) if usage is not None else b""
        return self._event(orjson.dumps([self._choice(text, reason)]), tail)

    def usage(self, usage: dict[str, int]) -> bytes:
        return self._event(b"[]", b',"usage":' + orjson.dumps(usage))

    def empty_choices(self) -> bytes:
        return self._event(b"[]")

    def malformed(self, text: str) -> bytes:
        """A content chunk whose JSON lacks its closing brackets."""
        return self.content(text).removesuffix(b"]}\n\n") + b"\n\n"

    def stream_error(self, message: str) -> bytes:
        return b"data: " + error_body(500, "InternalServerError", message) + b"\n\n"

    def body(self, text: str, usage: dict[str, int], reason: str = "length") -> bytes:
        """The non-streamed response document."""
        document = {**self._header, "object": self.body_object,
                    "choices": [self._message_choice(text, reason)], "usage": usage}
        return orjson.dumps(document)

    def _event(self, choices: bytes, tail: bytes = b"") -> bytes:
        return self._head + choices + tail + b"}\n\n"


class ChatChunkFormat(ChunkFormat):
    """chat.completion.chunk events: a role-only first delta, then content deltas."""

    chunk_object = "chat.completion.chunk"
    body_object = "chat.completion"

    def _choice(self, text: str | None, finish_reason: str | None) -> dict[str, Any]:
        delta = {} if text is None else {"content": text}
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

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

    def _choice(self, text: str | None, finish_reason: str | None) -> dict[str, Any]:
        return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}

    def _message_choice(self, text: str, finish_reason: str) -> dict[str, Any]:
        return self._choice(text, finish_reason)

    def opening(self) -> list[bytes]:
        return []
