"""MindIE's stream and body shape (``--mindie``): counts in every chunk, the server's own timings.

What a MindIE-style server adds to the OpenAI shape, as its reference describes it:

- every streamed chunk carries ``usage`` (``prompt_tokens``, ``completion_tokens`` so far,
  ``total_tokens``);
- with ``fullTextEnabled: true`` in the request, every chunk carries ``full_text``: the answer
  so far;
- the last chunk, and a non-streamed body, carry the server's own timings at the top level:
  ``prefill_time`` (ms from the request to its first token) and ``decode_time_arr`` (ms between
  each token and the next). Here they are the emulator's plan: the planned TTFT and gaps.
"""

from __future__ import annotations

from typing import Any

from emulator.chunks import ChatChunkFormat, usage, with_fields
from emulator.timing import Schedule


def timings(schedule: Schedule) -> dict[str, Any]:
    """``prefill_time`` and ``decode_time_arr`` in ms, from the schedule's plan so far."""
    return {"prefill_time": round(schedule.ttft_s * 1e3, 3),
            "decode_time_arr": [round(gap * 1e3, 3) for gap in schedule.gaps_s or ()]}


class MindieChatFormat(ChatChunkFormat):
    """Chat chunks with MindIE's ``usage`` (and ``full_text``) in each, its timings in the last."""

    def __init__(self, request_id: str, model: str, created: int, reasoning_field: str,
                 prompt_tokens: int, schedule: Schedule, full_text: bool = False) -> None:
        super().__init__(request_id, model, created, reasoning_field)
        self._prompt = prompt_tokens
        self._tokens = 0
        self._text: list[str] | None = [] if full_text else None
        self.finish_fields = lambda: timings(schedule)

    def content(self, text: str, tokens: int = 1) -> bytes:
        self._tokens += tokens
        if self._text is not None:
            self._text.append(text)
        return with_fields(super().content(text, tokens), self._so_far())

    def reasoning(self, text: str, tokens: int = 1) -> bytes:
        self._tokens += tokens
        return with_fields(super().reasoning(text, tokens), self._so_far())

    def finish(self, text: str | None, usage: dict[str, Any] | None, reason: str = "length") -> bytes:
        if text and self._text is not None:
            self._text.append(text)
        fields = self._so_far()
        if usage is not None:
            fields["usage"] = usage
        return with_fields(super().finish(text, None, reason), fields)

    def _so_far(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"usage": usage(self._prompt, self._tokens)}
        if self._text is not None:
            fields["full_text"] = "".join(self._text)
        return fields
