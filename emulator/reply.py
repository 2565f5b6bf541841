"""What one request generates, before any timing: per choice, reasoning words, then the answer.

Every choice gets ``max_tokens`` tokens (trimmed to the context); with ``--reasoning-tokens R``
the first ``min(R, max_tokens)`` of them are reasoning (none with ``enable_thinking: false``,
at most ``thinking_budget``), the rest the answer. A stop string cuts the answer before it;
a tool call turns the answer into that call's JSON arguments. Pure: no I/O, no clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from emulator.features import Features

CHOICE_STRIDE = 7919
"""Word offset between choices, so each choice of ``n`` says something else."""


@dataclass(frozen=True, slots=True)
class Choice:
    """One choice's output: reasoning words, answer words (a tool call's argument pieces), its end."""

    reasoning: list[str]
    answer: list[str]
    finish: str
    tool: str | None = None
    """The called function's name (None: a text answer)."""
    tool_tokens: int = 0
    """A tool call's tokens (name and arguments), by the tokenizer."""

    @property
    def tokens(self) -> int:
        """This choice's completion tokens."""
        answer = self.tool_tokens if self.tool is not None else len(self.answer)
        return len(self.reasoning) + answer

    @property
    def arguments(self) -> str:
        return "".join(self.answer)

    def message(self, reasoning_field: str) -> dict[str, Any]:
        """The non-streamed message's fields."""
        fields: dict[str, Any] = {"content": "".join(self.answer) if self.tool is None else None}
        if self.reasoning:
            fields[reasoning_field] = "".join(self.reasoning)
        if self.tool is not None:
            fields["tool_calls"] = [{"id": call_id(), "type": "function",
                                     "function": {"name": self.tool, "arguments": self.arguments}}]
        return fields


@dataclass(frozen=True, slots=True)
class Reply:
    """Every choice of one request."""

    choices: list[Choice]

    @property
    def completion_tokens(self) -> int:
        return sum(choice.tokens for choice in self.choices)

    @property
    def reasoning_tokens(self) -> int:
        return sum(len(choice.reasoning) for choice in self.choices)


def reasoning_count(planned: int, total: int, features: Features) -> int:
    """Reasoning tokens of one choice of ``total`` tokens."""
    if features.thinking is False:
        return 0
    if features.thinking_budget is not None:
        planned = min(planned, features.thinking_budget)
    return min(planned, total)


def plan_reply(
    take: Callable[[int, int], list[str]], start: int, total: int, features: Features, reasoning: int,
    count: Callable[[str], int],
) -> Reply:
    """The reply to one request: ``take(count, start)`` gives words; ``count`` tokenizes a tool call."""
    thinking = reasoning_count(reasoning, total, features)
    choices = []
    for i in range(features.n):
        offset = start + i * CHOICE_STRIDE
        reasoned = take(thinking, offset)
        answer, finish = cut_at_stop(take(total - thinking, offset + thinking), features.stop)
        if features.tool is not None:
            pieces = tool_arguments(answer)
            tokens = count(features.tool + "".join(pieces))
            choices.append(Choice(reasoned, pieces, "tool_calls", features.tool, tokens))
        else:
            choices.append(Choice(reasoned, answer, finish))
    return Reply(choices)


def cut_at_stop(words: list[str], stops: tuple[str, ...]) -> tuple[list[str], str]:
    """The words before the first stop string in their text, and the finish reason."""
    text = "".join(words)
    found = [at for at in (text.find(stop) for stop in stops) if at >= 0]
    if not found:
        return words, "length"
    cut, kept, at = min(found), [], 0
    for word in words:
        if at + len(word) > cut:
            break
        kept.append(word)
        at += len(word)
    return kept, "stop"


def tool_arguments(words: list[str]) -> list[str]:
    """A call's arguments in pieces, one word each: ``{"text": " w1 w2 ..."}`` when joined."""
    if not words:
        return ['{"text": ""}']
    pieces = [orjson.dumps(word).decode()[1:-1] for word in words]
    pieces[0] = '{"text": "' + pieces[0]
    pieces[-1] += '"}'
    return pieces


def call_id() -> str:
    return "call_" + os.urandom(6).hex()
