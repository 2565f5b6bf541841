"""Exact-length prompts: text whose real encoding (add_special_tokens=False) has exactly the tokens asked.

A window of the corpus at a random offset is taken, its token count measured, and its end repaired
(trimmed or extended by the difference) until the count is exact; after a few repairs another offset is
tried, after a few offsets the slow path re-encodes whole prompts. The factory returns what it built:
tokens asked, tokens made, chat-template overhead, and counts its repairs in `stats`.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from payloads.corpus import CorpusIndex, grown_text, load_corpus
from payloads.errors import PayloadError
from payloads.splice import END_MARGIN, Joined, Span, cut_points, joined_length, span_cuts
from payloads.tokenizer import backend_of, chat_template_overhead, decode_ids, encode_ids

MAX_REPAIRS = 8
"""Trims/extensions of one window before trying another offset."""
MAX_OFFSETS = 16
"""Offsets tried before giving up on an exact prompt (the closest one is returned and counted)."""
PREFIX_CACHE = 16
SELF_CHECK_LENGTHS = (1, 2, 3, 5, 17, 64, 257, 1000)
_SENTINEL = "PROMPTFACTORYSENTINEL"


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt as built: its text, the tokens asked, the tokens its text really encodes to, and the
    tokens the chat template adds around it as the only user message (None: no usable chat template)."""

    text: str
    tokens_requested: int
    tokens_made: int
    template_overhead: int | None


@dataclass(slots=True)
class FactoryStats:
    """What building the prompts took."""

    prompts: int = 0
    repairs: int = 0
    """Window ends trimmed or extended after a count."""
    new_offsets: int = 0
    """Windows abandoned for another random offset."""
    reencoded: int = 0
    """Prompts built by re-encoding whole texts (strict mode, random ids, or the splice path failing)."""
    mismatches: int = 0
    """Prompts returned with tokens_made != tokens_requested."""


@dataclass(frozen=True, slots=True)
class _Prefix:
    ids: tuple[int, ...]
    text: str
    span: Span
    tail_ids: tuple[int, ...]
    """Prefix ids after its last cut: the junction with what follows must start with them."""

    def kept_by(self, junction: Sequence[int]) -> bool:
        return tuple(junction[: len(self.tail_ids)]) == self.tail_ids


def template_wrap(tok: Any) -> tuple[str, str] | None:
    """(before, after) when the chat template renders one user message as before + content + after."""
    if not getattr(tok, "chat_template", None):
        return None
    sample = " Two words.\n\n"  # edge whitespace: a template that trims content does not wrap verbatim
    try:
        first, second = (_render_one(tok, text) for text in (_SENTINEL, sample))
    except Exception:  # a template that cannot render a plain user message
        return None
    before, found, after = first.partition(_SENTINEL)
    return (before, after) if found and second == before + sample + after else None


def _render_one(tok: Any, text: str) -> str:
    messages = [{"role": "user", "content": text}]
    return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def real_overhead(tok: Any, text: str) -> int | None:
    """Chat-template overhead of `text` as the only user message, by rendering the real template."""
    return chat_template_overhead(tok, [{"role": "user", "content": text}])


class PromptFactory:
    """Builds prompts that encode to exactly `n_tokens` tokens (add_special_tokens=False).

    Default ("splice" mode): windows of a readable ASCII corpus, counted by re-encoding only their
    edges (see `payloads.splice`), checked at start against full encodes. `strict=True` re-encodes every
    whole prompt and renders the real chat template (about 10x slower); `random_ids=True` decodes random
    token ids instead of corpus windows (noise text, always re-encoded). `mode` says which path runs and
    `mode_reason` why.
    """

    def __init__(
        self, tokenizer: Any, seed: int = 0, corpus: str | None = None, *, random_ids: bool = False,
        strict: bool = False,
    ) -> None:
        self.tokenizer = tokenizer
        self.stats = FactoryStats()
        self._rng = random.Random(seed)
        self._corpus = load_corpus() if corpus is None else corpus
        self._wrap = template_wrap(tokenizer)
        self._prefixes: OrderedDict[tuple[int, ...], _Prefix] = OrderedDict()
        self._reencoder = _Reencoder(tokenizer, self._corpus, random_ids)
        self._splicer: _Splicer | None = None
        blocker = _splice_blocker(tokenizer, self._corpus, strict, random_ids)
        if blocker is None:
            self._splicer = _Splicer(backend_of(tokenizer), self._corpus)
            blocker = self._self_check()
            self._splicer = None if blocker else self._splicer
            self._prefixes.clear()
        self.mode = "reencode" if blocker else "splice"
        self.mode_reason = blocker or "corpus windows counted at their edges"

    def make(self, n_tokens: int, prefix_ids: Sequence[int] | None = None) -> Prompt:
        """A prompt of exactly `n_tokens` tokens, starting with `prefix_ids` (counted in n_tokens)."""
        prefix = self._prefix(prefix_ids)
        _check_length(n_tokens, prefix)
        built = self._splice(n_tokens, prefix) if self._splicer else None
        if built is None:
            text, made = self._reencode(n_tokens, prefix)
            overhead = real_overhead(self.tokenizer, text)
        else:
            text, spans = built
            made, overhead = n_tokens, self._splice_overhead(spans, n_tokens, text)
        self.stats.prompts += 1
        self.stats.mismatches += made != n_tokens
        return Prompt(text, n_tokens, made, overhead)

    def _splice(self, n_tokens: int, prefix: _Prefix | None) -> tuple[str, tuple[Span, ...]] | None:
        for _ in range(MAX_OFFSETS):
            built = self._splicer.fit(self._rng, n_tokens, prefix, self.stats)
            if built is not None:
                return built
            self.stats.new_offsets += 1
        return None

    def _reencode(self, n_tokens: int, prefix: _Prefix | None) -> tuple[str, int]:
        """The closest (text, tokens) over a few offsets; exact unless the tokenizer makes it impossible."""
        self.stats.reencoded += 1
        best: tuple[str, int] | None = None
        for _ in range(MAX_OFFSETS):
            built = self._reencoder.fit(self._rng, n_tokens, prefix, self.stats)
            if built is not None and (best is None or abs(built[1] - n_tokens) < abs(best[1] - n_tokens)):
                best = built
            if best is not None and best[1] == n_tokens:
                return best
            self.stats.new_offsets += 1
        if best is None:
            tries = MAX_OFFSETS
            raise PayloadError(f"n_tokens={n_tokens}: no text kept the prefix ids intact in {tries} tries")
        return best

    def _splice_overhead(self, spans: tuple[Span, ...], n_tokens: int, text: str) -> int | None:
        if self._wrap is None:
            return real_overhead(self.tokenizer, text)
        before, after = self._wrap
        return self._splicer.count((Span(before), *spans, Span(after))).length - n_tokens

    def _prefix(self, prefix_ids: Sequence[int] | None) -> _Prefix | None:
        if prefix_ids is None or len(prefix_ids) == 0:
            return None
        key = tuple(int(i) for i in prefix_ids)
        if key in self._prefixes:
            self._prefixes.move_to_end(key)
            return self._prefixes[key]
        prefix = self._new_prefix(key)
        self._prefixes[key] = prefix
        if len(self._prefixes) > PREFIX_CACHE:
            self._prefixes.popitem(last=False)
        return prefix

    def _new_prefix(self, ids: tuple[int, ...]) -> _Prefix:
        text = decode_ids(self.tokenizer, ids)
        if tuple(encode_ids(self.tokenizer, text)) != ids:
            raise PayloadError(
                f"prefix_ids: these {len(ids)} ids do not encode back to themselves once decoded; "
                "accepted: the ids of a text's own encoding (e.g. of PromptFactory.make(n).text)"
            )
        span = self._splicer.text_span(text) if self._splicer else Span(text)
        tail = ids[span.cuts[-1][1]:] if span.cuts else ids
        return _Prefix(ids, text, span, tail)

    def _self_check(self) -> str | None:
        """None when spliced prompts agree with full encodes and the real chat template, else why not."""
        rng, scratch = random.Random(0x5EED), FactoryStats()
        for n_tokens in SELF_CHECK_LENGTHS:
            built = self._splicer.fit(rng, n_tokens, None, scratch)
            if built is not None and not self._agrees(built, n_tokens, ()):
                return f"splice self-check failed at {n_tokens} tokens"
        head = self._splicer.fit(rng, 40, None, scratch)
        prefix = self._prefix(encode_ids(self.tokenizer, head[0])) if head else None
        built = self._splicer.fit(rng, 300, prefix, scratch) if prefix else None
        if built is not None and not self._agrees(built, 300, prefix.ids):
            return "splice self-check failed with a prefix"
        return None

    def _agrees(self, built: tuple[str, tuple[Span, ...]], n_tokens: int, prefix_ids: Sequence[int]) -> bool:
        text, spans = built
        ids = encode_ids(self.tokenizer, text)
        overhead = self._splice_overhead(spans, n_tokens, text)
        return (
            len(ids) == n_tokens and tuple(ids[: len(prefix_ids)]) == tuple(prefix_ids)
            and overhead == real_overhead(self.tokenizer, text)
        )


def _check_length(n_tokens: Any, prefix: _Prefix | None) -> None:
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, int | np.integer) or n_tokens < 1:
        raise PayloadError(f"n_tokens={n_tokens!r}: accepted values are integers >= 1")
    if prefix is not None and n_tokens <= len(prefix.ids):
        raise PayloadError(f"n_tokens={n_tokens}: must exceed the prefix's {len(prefix.ids)} tokens")


def _splice_blocker(tok: Any, corpus: str, strict: bool, random_ids: bool) -> str | None:
    """Why the splice path cannot be used, or None."""
    backend = backend_of(tok)
    if strict or random_ids:
        return "strict=True" if strict else "random_ids=True"
    if backend is None:
        return "tokenizer has no fast (tokenizers) backend"
    if not corpus.isascii():
        return "corpus is not ASCII"
    sample = corpus[:20_000]
    if backend.normalizer is not None and backend.normalizer.normalize_str(sample) != sample:
        return "tokenizer normalizer rewrites the corpus"
    return None


class _Splicer:
    """Corpus windows counted by splicing (see payloads.splice)."""

    def __init__(self, backend: Any, corpus: str) -> None:
        self._backend = backend
        self._corpus = corpus
        self._encode = partial(backend.encode, add_special_tokens=False)
        self._index = CorpusIndex(backend, corpus)

    def count(self, spans: Sequence[Span]) -> Joined:
        return joined_length(self._encode, spans)

    def text_span(self, text: str) -> Span:
        """A whole text as a Span with its own clean cuts."""
        tokens, chars = cut_points(text, self._encode(text))
        top = int(np.searchsorted(chars, len(text) - END_MARGIN, side="right"))
        return Span(text, span_cuts(tokens, chars, 0, top, (0, 0)))

    def fit(
        self, rng: random.Random, n_tokens: int, prefix: _Prefix | None, stats: FactoryStats
    ) -> tuple[str, tuple[Span, ...]] | None:
        """An exact window (prefix first, if any) at one random offset, or None."""
        head = len(prefix.ids) if prefix else 0
        index = self._index_for(n_tokens - head)
        start = index.random_start(rng, n_tokens - head)
        end = start + n_tokens - head
        for _ in range(MAX_REPAIRS):
            body = index.view(start, end)
            spans = (prefix.span, body) if prefix else (body,)
            joined = self.count(spans)
            if prefix is not None and not prefix.kept_by(joined.junctions[0]):
                return None
            if joined.length == n_tokens:
                return (prefix.text if prefix else "") + body.text, spans
            end += n_tokens - joined.length
            if not start < end <= len(index):
                return None
            stats.repairs += 1
        return None

    def _index_for(self, length: int) -> CorpusIndex:
        if length > self._index.capacity():
            self._index = CorpusIndex(self._backend, grown_text(self._corpus, len(self._index), length))
        return self._index


class _Reencoder:
    """Whole-text re-encoding: decode ids, re-encode, trim or extend the ids, until exact."""

    def __init__(self, tokenizer: Any, corpus: str, random_ids: bool) -> None:
        self._tok = tokenizer
        self._corpus = corpus
        self._random_ids = random_ids
        self._corpus_ids: list[int] | None = None
        self._specials = set(getattr(tokenizer, "all_special_ids", ()))

    def fit(
        self, rng: random.Random, n_tokens: int, prefix: _Prefix | None, stats: FactoryStats
    ) -> tuple[str, int] | None:
        """The closest (text, tokens) reached from one random start; None if the prefix never held."""
        take = self._source(rng)
        head_ids = list(prefix.ids) if prefix else []
        head_text = prefix.text if prefix else ""
        body = take(n_tokens - len(head_ids))
        best: tuple[str, int] | None = None
        for _ in range(MAX_REPAIRS):
            text = head_text + decode_ids(self._tok, body)
            ids = encode_ids(self._tok, text)
            if ids[: len(head_ids)] != head_ids:
                break
            if best is None or abs(len(ids) - n_tokens) < abs(best[1] - n_tokens):
                best = (text, len(ids))
            if len(ids) == n_tokens:
                break
            body = ids[len(head_ids):]
            missing = n_tokens - len(ids)
            body = body[:missing] if missing < 0 else body + take(missing)
            stats.repairs += 1
        return best

    def _source(self, rng: random.Random) -> Callable[[int], list[int]]:
        if self._random_ids:
            return partial(self._random_tokens, rng)
        ids = self._ids()
        cursor = [rng.randrange(len(ids))]

        def take(count: int) -> list[int]:
            start = cursor[0]
            cursor[0] += count
            return [ids[(start + i) % len(ids)] for i in range(count)]

        return take

    def _random_tokens(self, rng: random.Random, count: int) -> list[int]:
        vocab = self._tok.vocab_size
        out: list[int] = []
        while len(out) < count:
            token = rng.randrange(vocab)
            if token not in self._specials:
                out.append(token)
        return out

    def _ids(self) -> list[int]:
        if self._corpus_ids is None:
            self._corpus_ids = encode_ids(self._tok, self._corpus)
        return self._corpus_ids
