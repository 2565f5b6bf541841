"""Multi-turn chat: each request carries the history, with the assistant's real replies."""

from __future__ import annotations

from payloads.conversation import Conversation
from streaming.record import RequestRecord
from users.base import ChatUser


class MultiTurnChatUser(ChatUser):
    """Holds a conversation of ``--turns`` user turns (or one from ``--conversations``).

    After each answer it appends the reply, waits ``--think-time`` seconds and sends the
    next turn; TTFT is reported per turn index. A failed turn ends the conversation.
    """

    traffic_class = "multi-turn"

    def on_start(self) -> None:
        super().on_start()
        self.conversation: Conversation | None = None

    def next_request(self) -> tuple[dict, RequestRecord]:
        if self.conversation is None or self.conversation.done:
            self.conversation = self.runtime.new_conversation()
        sample = self.conversation.next_request()
        record = RequestRecord(self.traffic_class, turn=self.conversation.turn_index,
                               custom_id=sample.custom_id or "")
        return self.runtime.body_for(sample), record

    def chat(self) -> None:
        body, record = self.next_request()
        self.send(body, record)
        conversation = self.conversation
        if conversation is None:
            return
        if not record.ok:
            self.conversation = None
            return
        conversation.add_reply(record.text)
        if not conversation.done and self.runtime.settings.think_time:
            self.pause(self.runtime.settings.think_time)
