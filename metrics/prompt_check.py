"""The server's prompt-token count against the client's plan: a mismatch, or images ignored.

The client plans each prompt under its own tokenizer and chat template (the shipped Qwen3
one unless ``--tokenizer``); a server with another template counts otherwise (a Qwen2-VL
server counted 83 where the client planned 72: its template adds a system prompt). The
server's count is the one reported as input tokens; the difference is said once, with the fix.

An image request's plan is its text alone, so its server count should be above that plan by
the image tokens. One that is not above what the server counts for text alone was a server
that ignored the images (``transformers serve`` with a text model took base64 images, and its
``prompt_tokens`` equalled the text's): the request succeeded but measured no image work.
"Text alone" is the plan plus the difference the server's text requests show (their most
common one), or the plan when the run sent no text requests.
"""

from __future__ import annotations

import logging
from collections import Counter

from streaming.record import RequestRecord

log = logging.getLogger("llm")


def prompt_delta(record: RequestRecord) -> int | None:
    """Server prompt tokens minus those the client planned (None when either is unknown)."""
    server = record.server_prompt_tokens
    if server is None or not record.payload_tokens:
        return None
    return server - record.payload_tokens


def text_reference(text_deltas: Counter[int]) -> int:
    """What the server adds to a planned text prompt: its text requests' most common difference."""
    return text_deltas.most_common(1)[0][0] if text_deltas else 0


def images_ignored(image_deltas: Counter[int], reference: int) -> int:
    """Image requests counted no higher than their text alone would be."""
    return sum(n for delta, n in image_deltas.items() if delta <= reference)


class PromptWarnings:
    """Logs the first text mismatch and the first ignored-images request, once each.

    One per process and run, fed every finished request (not the collectors: a worker starts a
    fresh one with every report it ships, and would repeat the warning every few seconds).
    """

    def __init__(self) -> None:
        self.text_delta: int | None = None
        """The first difference seen on a text request (None before any)."""
        self._told_text = self._told_images = False

    def see(self, record: RequestRecord) -> None:
        delta = prompt_delta(record)
        if delta is None or not record.ok:
            return
        if not record.images:
            if self.text_delta is None:
                self.text_delta = delta
            if delta and not self._told_text:
                self._told_text = True
                log.warning(mismatch_message(record))
        elif not self._told_images and delta <= (self.text_delta or 0):
            self._told_images = True
            log.warning(ignored_message(record))


def mismatch_message(record: RequestRecord) -> str:
    planned, overhead = record.payload_tokens, record.template_overhead
    return (
        f"LLM: the server counted {record.server_prompt_tokens} prompt tokens where the client planned "
        f"{planned} ({planned - overhead} content + {overhead} chat template, under the client's tokenizer); "
        "input tokens are reported as the server counts them. To plan prompts as the server counts them, "
        "pass --tokenizer with the server's model (a local folder or Hub name)"
    )


def ignored_message(record: RequestRecord) -> str:
    return (
        f"LLM: the server counted {record.server_prompt_tokens} prompt tokens for a request with "
        f"{record.images} image(s), no more than for its text alone ({record.payload_tokens} planned): "
        "it ignores the images (a text-only model?); the summary counts such requests as images_ignored"
    )
