"""Output text made of real one-token words, and prompt-token counting with the loaded tokenizer."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from jinja2 import TemplateError

from emulator.config import ConfigError
from emulator.validate import TEMPLATE_ROLES, BadRequest
from payloads.errors import TokenizerError
from payloads.tokenizer import load_tokenizer as payload_tokenizer

# Common English words with a leading space. Each is kept only if the loaded tokenizer encodes it as
# exactly one token; pre-tokenizers split on the space, so the concatenated text re-encodes to exactly
# one token per word emitted.
_WORD_TEXT = """
the of and to in is for on that with as it at by from this be are was or an not have which
load test server token stream request time model data system user chat text image result
first next last fast slow high low long short new good best more most many each every some
all one two three four five six seven eight nine ten can will would could should may must
run make take give find show use work read write send keep start stop wait open close
line word page file code list table value point part side end set level rate mode state
we you they he she our your their its there here when where what how why who then than
just also only even still very well over under after before about into through between
"""
WORDS = tuple(" " + w for w in _WORD_TEXT.split())
MIN_WORDS = 16

Messages = tuple[tuple[str, str], ...]


def load_tokenizer(path: str | None) -> Any:
    """The payload factory's tokenizer loader (default: the shipped Qwen3 folder); ConfigError if it
    cannot load, or has no fast (tokenizer.json) backend to count with."""
    try:
        tokenizer = payload_tokenizer(path)
    except TokenizerError as exc:
        raise ConfigError(str(exc)) from None
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ConfigError(f"--tokenizer {path!r} has no fast (tokenizer.json) backend; accepted: fast ones")
    return tokenizer


class OutputWords:
    """The words the emulator emits, each verified to be exactly one token."""

    def __init__(self, tokenizer: Any, candidates: tuple[str, ...] = WORDS) -> None:
        backend = tokenizer.backend_tokenizer
        encoded = backend.encode_batch(list(candidates), add_special_tokens=False)
        self._backend = backend
        self.words = tuple(w for w, enc in zip(candidates, encoded, strict=True) if len(enc.ids) == 1)
        if len(self.words) < MIN_WORDS:
            raise ConfigError(
                f"the tokenizer encodes only {len(self.words)} of the emulator's words as one token; "
                f"accepted: a tokenizer that keeps at least {MIN_WORDS}"
            )
        joined = backend.encode("".join(self.words), add_special_tokens=False)
        if len(joined.ids) != len(self.words):
            raise ConfigError("the tokenizer merges the emulator's words across spaces; pick another")

    def count(self, text: str) -> int:
        """Tokens of ``text`` (a tool call's name and arguments), as a client re-counts them."""
        return len(self._backend.encode(text, add_special_tokens=False).ids)

    def take(self, count: int, start: int) -> list[str]:
        """`count` words, cycling through the list from index `start`."""
        words, n = self.words, len(self.words)
        return [words[(start + i) % n] for i in range(count)]


class PromptCounter:
    """Counts prompt tokens exactly as the tokenizer's chat template would, with an LRU cache.

    Short texts are counted on the event loop (a fraction of a millisecond). Long ones are encoded
    in a worker thread: the Rust encoder releases the GIL in encode_batch, so other streams' chunks
    are not held up. The template itself is rendered on the loop: a worker rendering Jinja would
    hold the GIL and delay the loop's timers by up to the interpreter's switch interval.
    """

    def __init__(self, tokenizer: Any, cache_size: int = 4096, inline_chars: int = 2000) -> None:
        self._tokenizer = tokenizer
        self._backend = tokenizer.backend_tokenizer
        self._cache: OrderedDict[Messages | str, int] = OrderedDict()
        self._cache_size = cache_size
        self._inline_chars = inline_chars
        self._count(self.render((("user", "warm up"),)))  # compiles the template now (~35 ms), not in a burst

    async def chat(self, messages: Messages) -> int:
        """Tokens of the chat-templated prompt (with the generation prompt) for text-only messages."""
        hit = self._lookup(messages)
        if hit is not None:
            return hit
        return self._store(messages, await self._encoded_length(self.render(messages)))

    async def text(self, prompt: str) -> int:
        """Tokens of a plain prompt, as /v1/completions encodes it."""
        hit = self._lookup(prompt)
        if hit is not None:
            return hit
        return self._store(prompt, await self._encoded_length(prompt))

    def render(self, messages: Messages) -> str:
        """The templated prompt text; BadRequest when the chat template rejects the conversation."""
        chat = [{"role": TEMPLATE_ROLES[role], "content": text} for role, text in messages]
        try:
            return self._tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        except TemplateError as exc:
            raise BadRequest(f"the chat template rejects these messages: {exc}", "messages") from None

    async def _encoded_length(self, text: str) -> int:
        if len(text) <= self._inline_chars:
            return self._count(text)
        return await asyncio.to_thread(self._count, text)

    def _count(self, text: str) -> int:
        return len(self._backend.encode_batch([text], add_special_tokens=False)[0].ids)

    def _lookup(self, key: Messages | str) -> int | None:
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
        return hit

    def _store(self, key: Messages | str, value: int) -> int:
        self._cache[key] = value
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return value
