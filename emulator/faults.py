"""Seeded fault draws: each request gets at most one fault, with the configured rates."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True, slots=True)
class HttpFault:
    """An HTTP error answered at once instead of a completion."""

    status: int
    kind: str
    message: str
    retry_after: bool


HTTP_FAULTS = {
    "http500": HttpFault(500, "InternalServerError", "emulated internal server error", False),
    "http429": HttpFault(429, "RateLimitError", "emulated rate limit", True),
    "http503": HttpFault(503, "ServiceUnavailableError", "emulated overload", True),
}
# Faults a non-streamed response can show; the others leave it intact (and it is logged "ok").
BODY_FAULTS = (*HTTP_FAULTS, "cut", "malformed", "stall")


class FaultPicker:
    """Draws one fault name (or None) per request from `(name, rate)` pairs whose rates sum to <= 1.

    A schedule of `(name, start_s, end_s)` windows (seconds since the picker was made) comes
    first: every request inside a window gets its fault.
    """

    def __init__(
        self, faults: tuple[tuple[str, float], ...], seed: int,
        windows: tuple[tuple[str, float, float], ...] = (),
    ) -> None:
        self._names = [name for name, _ in faults]
        self._bounds = list(accumulate(rate for _, rate in faults))
        self._rng = random.Random(f"{seed}/faults")
        self._windows = windows
        self._t0 = time.monotonic()

    def draw(self) -> str | None:
        if self._windows:
            elapsed = time.monotonic() - self._t0
            for name, start, end in self._windows:
                if start <= elapsed < end:
                    return name
        if not self._names:
            return None
        u = self._rng.random()
        for name, bound in zip(self._names, self._bounds, strict=True):
            if u < bound:
                return name
        return None
