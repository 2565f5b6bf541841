"""Exact token counts of joined texts, re-encoding only the junctions.

Byte-level BPE tokenizers (GPT-2, Qwen, Llama-3 style) first split text into pieces with a regex that has
no look-behind and reads ahead at most through the next run of whitespace, then encode every piece on
its own. So inside a text whose real encoding is known, a *clean cut* (a piece that starts right after
a non-space character, at least two characters before the end) is a place where the encoding can be
split: what lies left of it does not depend on what follows, and the scan restarts there.

`joined_length` counts the tokens of spans laid end to end: the known ids between each span's first and
last usable cuts, plus the real encoding of each junction (the left tail + the next span's head). A
junction is trusted only when its real encoding shows a piece starting at the span's first cut (the
scans agree from there on); otherwise the whole span is re-encoded with its neighbour. PromptFactory
checks the result against full encodes at start and re-encodes everything for tokenizers where this
does not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Cut = tuple[int, int]
"""(character offset, token offset), both relative to the span."""
Encoder = Callable[[str], Any]
"""text -> tokenizers.Encoding (ids, offsets, word_ids), special tokens not added."""

END_MARGIN = 2
"""A cut must leave at least this many characters of its span after it."""
ENTRY_TRIES = 3
"""Cuts tried as a span's entry before re-encoding the whole span with its neighbour."""
_SPACE = np.frombuffer(b" \t\n\r\x0b\x0c", dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class Span:
    """A text and the clean cuts (the first few and the last) where its real encoding may be split.

    With no cuts the span is always re-encoded whole together with its neighbours.
    """

    text: str
    cuts: tuple[Cut, ...] = ()


@dataclass(frozen=True, slots=True)
class Joined:
    """Token count of spans laid end to end, and the real ids of every re-encoded junction, in order."""

    length: int
    junctions: tuple[list[int], ...]


def cut_points(text: str, encoding: Any) -> tuple[np.ndarray, np.ndarray]:
    """Token and character offsets of the clean cuts of an ASCII `text` encoded as `encoding`.

    Token i is a cut when a piece starts there and the character before it is not whitespace.
    Non-ASCII text gets no cuts (its character offsets and normalization are not trivially local).
    """
    if len(encoding.ids) < 2 or not text.isascii():
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    starts = np.fromiter((start for start, _ in encoding.offsets), dtype=np.int64, count=len(encoding.ids))
    words = np.asarray([-1 if w is None else w for w in encoding.word_ids], dtype=np.int64)
    after_space = np.isin(np.frombuffer(text.encode("ascii"), dtype=np.uint8), _SPACE)
    is_cut = np.zeros(len(starts), dtype=bool)
    is_cut[1:] = (words[1:] != words[:-1]) & (starts[1:] > 0)
    is_cut[1:] &= ~after_space[np.maximum(starts[1:] - 1, 0)]
    tokens = np.flatnonzero(is_cut)
    return tokens, starts[tokens]


def span_cuts(tokens: np.ndarray, chars: np.ndarray, lo: int, hi: int, base: Cut) -> tuple[Cut, ...]:
    """The first ENTRY_TRIES + 1 cuts and the last of cuts[lo:hi], made relative to `base`."""
    if hi <= lo:
        return ()
    picked = sorted({*range(lo, min(lo + ENTRY_TRIES + 1, hi)), hi - 1})
    return tuple((int(chars[i]) - base[0], int(tokens[i]) - base[1]) for i in picked)


def joined_length(encode: Encoder, spans: Sequence[Span]) -> Joined:
    """Exact token count of the concatenated span texts (see the module docstring)."""
    total = 0
    pending = ""
    junctions: list[list[int]] = []
    for span in spans:
        entry = _entry(encode, pending, span)
        if entry is None:
            pending += span.text
            continue
        before, ids, entry_token = entry
        if ids is not None:
            junctions.append(ids)
        last_char, last_token = span.cuts[-1]
        total += before + last_token - entry_token
        pending = span.text[last_char:]
    tail = encode(pending).ids if pending else []
    return Joined(total + len(tail), (*junctions, tail))


def _entry(encode: Encoder, pending: str, span: Span) -> tuple[int, list[int] | None, int] | None:
    """Tokens up to the span's entry cut, the junction's ids, and the entry cut's token offset."""
    if not span.cuts:
        return None
    if not pending:
        return 0, None, 0
    pairs = zip(span.cuts[:ENTRY_TRIES], span.cuts[1:], strict=False)
    for (first_char, _), (entry_char, entry_token) in pairs:
        encoding = encode(pending + span.text[:entry_char])
        if piece_starts_at(encoding, len(pending) + first_char):
            return len(encoding.ids), encoding.ids, entry_token
    return None


def piece_starts_at(encoding: Any, char: int) -> bool:
    """Whether the encoding has a pre-tokenizer piece starting exactly at character `char`."""
    words = encoding.word_ids
    for i, (start, _) in enumerate(encoding.offsets):
        if start >= char:
            return start == char and (i == 0 or words[i] != words[i - 1])
    return False
