"""Batch input files: one JSON request a line, within the Batch API's limits.

A line is ``{"custom_id", "method": "POST", "url", "body"}``; every ``custom_id`` is unique in
its file (the answers are matched by it, not by order). The documented limits: at most 50,000
lines and 500 MB a file, 6 MB a line. Going over one is a one-line :class:`BatchLimitError`
naming the limit, raised before anything is uploaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

MB = 1024 * 1024
MAX_LINES = 50_000
MAX_FILE_BYTES = 500 * MB
MAX_LINE_BYTES = 6 * MB


class BatchLimitError(ValueError):
    """A batch input over a documented limit; ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class BatchInput:
    """A built input file: its bytes, and the ``custom_id`` of each line in order."""

    data: bytes
    custom_ids: tuple[str, ...]
    url: str
    """The endpoint every line calls (the batch's ``endpoint``)."""

    @property
    def lines(self) -> int:
        return len(self.custom_ids)


def input_line(custom_id: str, url: str, body: dict) -> bytes:
    """One input line, newline included."""
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body}) + b"\n"


def build_input(requests: Iterable[tuple[str, dict]], url: str) -> BatchInput:
    """The input file for ``(custom_id, body)`` pairs; raises :class:`BatchLimitError` or ``ValueError``
    (an empty batch, a repeated ``custom_id``)."""
    parts: list[bytes] = []
    ids: list[str] = []
    seen: set[str] = set()
    size = 0
    for custom_id, body in requests:
        if custom_id in seen:
            raise ValueError(f"batch input: custom_id {custom_id!r} is used twice; each must be unique")
        seen.add(custom_id)
        line = input_line(custom_id, url, body)
        check_line(len(ids) + 1, custom_id, len(line))
        size += len(line)
        parts.append(line)
        ids.append(custom_id)
        check_file(len(ids), size)
    if not ids:
        raise ValueError("batch input: no lines; a batch needs at least one request")
    return BatchInput(b"".join(parts), tuple(ids), url)


def check_line(number: int, custom_id: str, size: int) -> None:
    if size > MAX_LINE_BYTES:
        raise BatchLimitError(
            f"batch input line {number} (custom_id {custom_id!r}) is {size / MB:.1f} MB; the Batch API takes "
            f"at most {MAX_LINE_BYTES // MB} MB a line (send fewer or smaller images)")


def check_file(lines: int, size: int) -> None:
    if lines > MAX_LINES:
        raise BatchLimitError(f"batch input has over {MAX_LINES:,} lines; the Batch API takes at most "
                              f"{MAX_LINES:,} a file (lower --batch-lines)")
    if size > MAX_FILE_BYTES:
        limit = f"{MAX_FILE_BYTES / MB:g} MB"
        raise BatchLimitError(f"batch input is over {limit} at line {lines:,}; the Batch API takes at most "
                              f"{limit} a file (lower --batch-lines)")
