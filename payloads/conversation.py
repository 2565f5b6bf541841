"""Multi-turn conversations: user turns known in advance, assistant replies taken from the server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from payloads.datasets import ShareGPTConversation
from payloads.errors import PayloadError
from payloads.prompts import PromptFactory
from payloads.request import SampleRequest
from payloads.tokenizer import count_tokens


class Conversation:
    """A conversation that keeps its history: send `next_messages()`, then `add_reply()` the real answer.

    Asking for the next messages again before a reply gives the same turn (a retry); a reply without a
    pending turn, or a turn after the last one, raises PayloadError.
    """

    def __init__(
        self, user_turns: Sequence[str], max_tokens: Sequence[int | None] | int | None = None,
        system: str | None = None, conversation_id: str | None = None,
    ) -> None:
        if not user_turns:
            raise PayloadError("user_turns: empty; accepted: at least one user turn")
        limits = max_tokens if isinstance(max_tokens, Sequence) else [max_tokens] * len(user_turns)
        if len(limits) != len(user_turns):
            raise PayloadError(
                f"max_tokens: {len(limits)} limits for {len(user_turns)} user turns; give one per turn"
            )
        self.user_turns = tuple(user_turns)
        self.max_tokens = tuple(limits)
        self.conversation_id = conversation_id
        self.history: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        self.turn_index = 0
        """Turns completed (replies added); also the index of the next user turn."""
        self._pending = False

    @property
    def done(self) -> bool:
        """Every user turn has been answered."""
        return self.turn_index == len(self.user_turns)

    def next_messages(self) -> list[dict[str, str]]:
        """The history plus the next user turn."""
        if self.done:
            turns = len(self.user_turns)
            raise PayloadError(f"conversation {self.conversation_id}: all {turns} turns are done")
        self._pending = True
        return [*self.history, {"role": "user", "content": self.user_turns[self.turn_index]}]

    def next_request(self) -> SampleRequest:
        """The next turn as a SampleRequest (its max_tokens set; token counts unknown: replies vary)."""
        messages = self.next_messages()
        return SampleRequest(messages, None, None, self.max_tokens[self.turn_index], self.conversation_id)

    def add_reply(self, text: str) -> None:
        """Record the assistant's real reply to the pending turn."""
        if not self._pending:
            raise PayloadError(f"conversation {self.conversation_id}: add_reply without a pending user turn")
        self.history.append({"role": "user", "content": self.user_turns[self.turn_index]})
        self.history.append({"role": "assistant", "content": text})
        self.turn_index += 1
        self._pending = False

    @classmethod
    def from_sharegpt(
        cls, conversation: ShareGPTConversation, tokenizer: Any = None, max_tokens: int | None = None
    ) -> Conversation:
        """From ShareGPT data; with a tokenizer, each turn's max_tokens is its recorded reply's length."""
        limits = _reply_limits(conversation, tokenizer, max_tokens)
        return cls(conversation.user_turns, limits, conversation.system, conversation.conversation_id)

    @classmethod
    def from_factory(
        cls, factory: PromptFactory, turns: int, turn_tokens: int, max_tokens: int | None = None,
        conversation_id: str | None = None,
    ) -> Conversation:
        """`turns` user turns of exactly `turn_tokens` tokens each, from a PromptFactory."""
        if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
            raise PayloadError(f"turns={turns!r}: accepted values are integers >= 1")
        texts = [factory.make(turn_tokens).text for _ in range(turns)]
        return cls(texts, max_tokens, conversation_id=conversation_id)


def _reply_limits(
    conversation: ShareGPTConversation, tokenizer: Any, default: int | None
) -> list[int | None]:
    """Per user turn: tokens of the recorded reply (when measurable and non-empty), else `default`."""
    limits: list[int | None] = []
    for index in range(len(conversation.user_turns)):
        replies = conversation.reference_replies
        reply = replies[index] if index < len(replies) else ""
        measured = count_tokens(tokenizer, reply) if tokenizer is not None and reply else 0
        limits.append(measured or default)
    return limits
