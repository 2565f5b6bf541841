"""Text-only chat traffic: prompts of an exact token length from the payload factory."""

from __future__ import annotations

from conf.settings import ENDPOINTS
from streaming.record import RequestRecord
from users.base import ChatUser


class TextChatUser(ChatUser):
    """Sends one user message of ``--input-len`` tokens (± ``--range-ratio``) per request."""

    traffic_class = "text"

    def next_request(self) -> tuple[dict, RequestRecord]:
        sample = self.runtime.sampler.sample()
        body = self.runtime.body_for(sample)
        # /v1/completions sends the text as it is: no chat template wraps it (the server counted
        # 64 where a templated count said 72 = 64 + 8).
        templated = self.path == ENDPOINTS["chat"]
        overhead = (sample.template_overhead or 0) if templated else 0
        record = RequestRecord(
            self.traffic_class,
            payload_tokens=(sample.prompt_tokens or 0) + overhead,
            template_overhead=overhead,
            custom_id=sample.custom_id or "",
        )
        return body, record
