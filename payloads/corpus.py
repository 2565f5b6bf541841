"""The prompt corpus: readable text, tokenized once, sliced into windows that know their clean cuts.

The shipped `corpus.txt` is plain-ASCII prose from CPython's standard-library docstrings (PSF License),
written by `payloads/make_corpus.py`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np

from payloads.errors import PayloadError
from payloads.splice import END_MARGIN, Span, cut_points, span_cuts

DEFAULT_CORPUS = Path(__file__).with_name("corpus.txt")
MIN_CORPUS_CHARS = 1_000
SLACK_TOKENS = 256
"""Room left after a window for boundary repairs that extend it."""


def load_corpus(path: str | Path | None = None) -> str:
    """Text of a corpus file (the shipped one by default)."""
    path = Path(path) if path is not None else DEFAULT_CORPUS
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = type(exc).__name__
        raise PayloadError(f"corpus {path}: cannot read ({reason}); pass a UTF-8 text file") from None
    if len(text) < MIN_CORPUS_CHARS:
        raise PayloadError(f"corpus {path}: {len(text)} characters; pass at least {MIN_CORPUS_CHARS}")
    return text


class CorpusIndex:
    """An ASCII corpus encoded once with the real tokenizer: ids, character offsets, entries, clean cuts.

    A window starts where a pre-tokenizer piece starts with a letter or digit, so the tokenizer scans
    it exactly as it scanned the corpus; its ids are the corpus ids up to its last clean cut.
    """

    def __init__(self, backend: Any, text: str) -> None:
        encoding = backend.encode(text, add_special_tokens=False)
        self.text = text
        self.ids = np.asarray(encoding.ids, dtype=np.int64)
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        self.starts, self.ends = offsets[:, 0], offsets[:, 1]
        self.cut_tokens, self.cut_chars = cut_points(text, encoding)
        words = np.asarray([-1 if w is None else w for w in encoding.word_ids], dtype=np.int64)
        piece_start = np.ones(len(words), dtype=bool)
        piece_start[1:] = words[1:] != words[:-1]
        self.entries = np.flatnonzero(piece_start & _alnum(text)[self.starts])

    def __len__(self) -> int:
        return len(self.ids)

    def capacity(self) -> int:
        """Longest window this corpus can serve with room for repairs."""
        return len(self.ids) - SLACK_TOKENS

    def random_start(self, rng: random.Random, length: int) -> int:
        """A random entry token with `length` tokens (and the slack) after it."""
        top = int(np.searchsorted(self.entries, len(self.ids) - length - SLACK_TOKENS, side="right"))
        if top == 0:
            raise PayloadError(f"window of {length} tokens: corpus has only {len(self.ids)} tokens")
        return int(self.entries[rng.randrange(top)])

    def view(self, start: int, end: int) -> Span:
        """Tokens [start, end) of the corpus as a Span with its usable clean cuts."""
        first_char, last_char = int(self.starts[start]), int(self.ends[end - 1])
        lo = int(np.searchsorted(self.cut_tokens, start, side="right"))
        hi = int(np.searchsorted(self.cut_chars, last_char - END_MARGIN, side="right"))
        cuts = span_cuts(self.cut_tokens, self.cut_chars, lo, hi, (first_char, start))
        return Span(self.text[first_char:last_char], cuts)


def _alnum(text: str) -> np.ndarray:
    """Per character of an ASCII text: is it a letter or a digit."""
    codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    lower = codes | 0x20
    return ((codes >= ord("0")) & (codes <= ord("9"))) | ((lower >= ord("a")) & (lower <= ord("z")))


def grown_text(text: str, tokens_have: int, tokens_needed: int) -> str:
    """The corpus repeated (paragraph-separated) until it holds about `tokens_needed` tokens."""
    copies = -(-(tokens_needed + 2 * SLACK_TOKENS) // max(tokens_have, 1)) + 1
    return "\n\n".join([text.strip()] * copies) + "\n"
