"""One request to send: chat messages, what we know of their tokens, and the body fields to add."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_OUTPUT_LIMITS = ("max_tokens", "max_completion_tokens")


@dataclass(frozen=True, slots=True)
class SampleRequest:
    """A request as built or read: messages plus the token counts we really measured.

    Counts are None when unknown (a dataset loaded without a tokenizer, a conversation's history).
    """

    messages: list[dict]
    """Chat messages, ready for the body's "messages"."""
    prompt_tokens: int | None
    """Tokens of the messages' text content (prefix included), without the chat template."""
    template_overhead: int | None
    """Tokens the chat template adds around that content (generation prompt included)."""
    expected_output_tokens: int | None
    """The max_tokens to send (None: let the server decide)."""
    custom_id: str | None = None
    """Identifier carried from the source (a Batch line's custom_id)."""
    body_extra: dict[str, Any] = field(default_factory=dict)
    """Other body fields from the source; for a Batch line, its whole body except "messages"."""

    def to_body(
        self, model: str | None = None, stream: bool | None = None, include_usage: bool = True
    ) -> dict[str, Any]:
        """The chat-completions body. The record's own fields win; the arguments only fill what it lacks.

        `include_usage` asks a streamed body for the final usage chunk (only when `stream` is given and
        the body ends up streamed). A Batch line's body comes back unchanged when no argument is given.
        """
        body: dict[str, Any] = {}
        if model is not None:
            body["model"] = model
        body["messages"] = self.messages
        if self.expected_output_tokens is not None and not any(k in self.body_extra for k in _OUTPUT_LIMITS):
            body["max_tokens"] = self.expected_output_tokens
        if stream is not None:
            body["stream"] = stream
        body.update(self.body_extra)
        if stream is not None and include_usage and body["stream"] is True and "stream_options" not in body:
            body["stream_options"] = {"include_usage": True}
        return body
