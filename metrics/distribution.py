"""An exact, mergeable latency distribution at microsecond resolution.

Locust's own histogram rounds to whole milliseconds and coarser and never interpolates,
so sub-millisecond inter-token gaps all read as 0. This keeps a count per microsecond
(a dict, so memory grows with the number of distinct values, not of samples), plus exact
float sums for mean and standard deviation. Two distributions merge by adding counts, so
workers can ship theirs to the master as plain dicts (msgpack-safe).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

PERCENTILES = (50, 90, 95, 99)


class Distribution:
    """Samples in seconds, kept as counts per whole microsecond."""

    __slots__ = ("counts", "n", "total", "total_sq")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.total = 0.0
        self.total_sq = 0.0

    def add(self, seconds: float) -> None:
        """Add one sample."""
        key = round(seconds * 1e6)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        self.n += 1
        self.total += seconds
        self.total_sq += seconds * seconds

    def extend(self, samples: Iterable[float]) -> None:
        """Add many samples."""
        for s in samples:
            self.add(s)

    def merge(self, other: Distribution) -> None:
        """Add every sample of ``other`` into this one."""
        counts = self.counts
        for key, c in other.counts.items():
            counts[key] = counts.get(key, 0) + c
        self.n += other.n
        self.total += other.total
        self.total_sq += other.total_sq

    def to_dict(self) -> dict:
        """Plain types only (msgpack and JSON safe); inverse of :meth:`from_dict`."""
        return {"counts": list(self.counts.items()), "n": self.n, "sum": self.total, "sumsq": self.total_sq}

    @classmethod
    def from_dict(cls, data: dict) -> Distribution:
        dist = cls()
        dist.counts = {int(k): int(c) for k, c in data["counts"]}
        dist.n, dist.total, dist.total_sq = data["n"], data["sum"], data["sumsq"]
        return dist

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def std(self) -> float:
        """Population standard deviation (as numpy's default)."""
        if self.n < 2:
            return 0.0
        var = self.total_sq / self.n - self.mean**2
        return math.sqrt(max(var, 0.0))

    def percentiles(self, qs: Iterable[float] = PERCENTILES) -> dict[float, float]:
        """Percentiles in seconds with numpy's default (linear) interpolation between samples."""
        qs = list(qs)
        if not self.n:
            return dict.fromkeys(qs, 0.0)
        keys = sorted(self.counts)
        ranks = {q: q / 100 * (self.n - 1) for q in qs}
        wanted = sorted({math.floor(r) for r in ranks.values()} | {math.ceil(r) for r in ranks.values()})
        values = _values_at(keys, self.counts, wanted)
        out = {}
        for q, r in ranks.items():
            lo, hi = values[math.floor(r)], values[math.ceil(r)]
            out[q] = (lo + (hi - lo) * (r - math.floor(r))) / 1e6
        return out

    def summary_ms(self) -> dict[str, float]:
        """mean, median, std and p50/p90/p95/p99, in milliseconds."""
        pct = self.percentiles()
        out = {"mean": self.mean * 1e3, "median": pct[50] * 1e3, "std": self.std * 1e3}
        out.update({f"p{q}": v * 1e3 for q, v in pct.items()})
        return out


def _values_at(keys: list[int], counts: dict[int, int], indices: list[int]) -> dict[int, int]:
    """The sample value (µs) at each sorted 0-based index, walking the cumulative counts once."""
    out: dict[int, int] = {}
    it = iter(indices)
    want = next(it, None)
    seen = 0
    for key in keys:
        seen += counts[key]
        while want is not None and want < seen:
            out[want] = key
            want = next(it, None)
        if want is None:
            break
    return out
