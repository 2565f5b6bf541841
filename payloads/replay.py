"""Replay loaded requests in order, as a sampler like :class:`RandomDataset`."""

from __future__ import annotations

from collections.abc import Sequence

from payloads.datasets import load_batch, load_prompts
from payloads.errors import DatasetError
from payloads.request import SampleRequest

FORMATS = ("auto", "prompts", "batch")


class Replay:
    """Cycles through ``records``, starting at ``start`` (so workers need not all start alike)."""

    def __init__(self, records: Sequence[SampleRequest], start: int = 0) -> None:
        if not records:
            raise DatasetError("the dataset has no usable requests")
        self.records = list(records)
        self._next = start % len(self.records)

    def sample(self) -> SampleRequest:
        record = self.records[self._next]
        self._next = (self._next + 1) % len(self.records)
        return record


def load_dataset(
    path: str, fmt: str, tokenizer: object, skip_bad: bool = False
) -> tuple[list[SampleRequest], str]:
    """Load a prompts or Batch-format JSONL file; ``auto`` looks for ``custom_id`` + ``body``.

    Returns the requests and the loader's one-line report (kept, skipped and why)."""
    if fmt not in FORMATS:
        raise DatasetError(f"--dataset-format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = "batch" if _looks_like_batch(path) else "prompts"
    loader = load_batch if fmt == "batch" else load_prompts
    records, report = loader(path, skip_bad=skip_bad, tokenizer=tokenizer)
    return records, report.summary()


def _looks_like_batch(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return False  # the loader reports the file's problem in its own words
    return '"custom_id"' in first and '"body"' in first
