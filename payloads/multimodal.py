"""Chat content with images: ``text`` and ``image_url`` parts, as in the Chat Completions format."""

from __future__ import annotations

import random
from dataclasses import dataclass

from payloads.errors import PayloadError


@dataclass(frozen=True, slots=True)
class ImageCount:
    """How many images a request carries: fixed ("2") or uniform in a range ("1-4")."""

    low: int
    high: int

    @classmethod
    def parse(cls, text: str | int) -> ImageCount:
        """Parse ``N`` or ``MIN-MAX`` (N >= 1, MIN <= MAX); a one-line error otherwise."""
        raw = str(text).strip()
        parts = raw.split("-", 1)
        try:
            low, high = int(parts[0]), int(parts[-1])
        except ValueError:
            raise PayloadError(f"--images-per-request {raw!r}: expected N or MIN-MAX (1, 1-4)") from None
        if low < 1:
            raise PayloadError(f"--images-per-request {raw!r}: expected at least 1 image")
        if low > high:
            raise PayloadError(f"--images-per-request {raw!r}: MIN {low} is greater than MAX {high}")
        return cls(low, high)

    def draw(self, rng: random.Random) -> int:
        return self.low if self.low == self.high else rng.randint(self.low, self.high)


def with_images(content: str, urls: list[str], text_first: bool = True) -> list[dict]:
    """A message ``content`` list: the text part before (or after) one ``image_url`` part per URL."""
    images = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    text = [{"type": "text", "text": content}] if content else []
    return text + images if text_first else images + text


def attach_images(messages: list[dict], urls: list[str], text_first: bool = True) -> list[dict]:
    """A copy of ``messages`` whose last user message carries the images."""
    out = list(messages)
    for i in range(len(out) - 1, -1, -1):
        message = out[i]
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            out[i] = {**message, "content": with_images(message["content"], urls, text_first)}
            return out
    raise PayloadError("cannot attach images: the request has no user message with text content")
