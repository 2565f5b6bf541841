"""The batch workload's knobs, as the settings carry them (defaults: the option table's)."""

from __future__ import annotations

import math
from dataclasses import dataclass

IMAGE_MODES = ("none", "base64", "image-url")


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """What a :class:`~users.batch.BatchUser` sends and how it follows its batches."""

    lines: int = 100
    """Lines per batch; 0 = every line of ``--dataset`` once per batch."""
    window: str = "24h"
    """The ``completion_window`` asked for (``24h``, ``7d``)."""
    poll_interval: float = 5.0
    """Seconds before the first poll, and after each change of status."""
    poll_max: float = 60.0
    """Longest wait between polls (the wait grows 1.5x while nothing changes)."""
    cancel_share: float = 0.0
    """Share of batches cancelled at their first poll, spread evenly (0.25: every 4th)."""
    images: str = "none"
    """Images in each line: none, base64 data URIs, or URLs (``--images-per-request`` of them)."""


class EvenShare:
    """Picks exactly ``share`` of its calls, spread evenly (0.25: the 4th, 8th, ...): a run of a few
    batches cancels as many as asked, not a random number of them."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.calls = 0

    def pick(self) -> bool:
        self.calls += 1
        floor = math.floor
        return floor(self.calls * self.share + 1e-9) > floor((self.calls - 1) * self.share + 1e-9)
