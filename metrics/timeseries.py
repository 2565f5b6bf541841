"""Figures per second of wall-clock time, per traffic class: mergeable across workers, bounded.

Each second of the run is a :class:`Slot` per class: requests and failures that *ended* in
it, output tokens that *arrived* in it (a request's tokens spread over its token-bearing
chunks' arrival seconds), requests in flight sampled once in it, images and request bytes
sent by the requests that ended in it, and the TTFT, ITL and TPOT distributions of those
requests. Seconds are wall-clock (``time.time()``), so the slots of several workers line
up and merge by adding.

The distributions are what costs memory, so a slot older than :data:`SETTLE` seconds (no
worker report can still bring it data) is collapsed into its percentiles, once; what is
left per second of a long run is a few numbers per class.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from metrics.distribution import Distribution
from streaming.record import RequestRecord

SETTLE = 15.0
"""Seconds after which a slot is final: longer than a worker's report interval (3 s) plus
the time its last report takes to arrive."""
ALL = "*"
"""The key of the union of the classes in a collapsed slot."""
POINTS = (("ttft", 50), ("ttft", 95), ("itl", 50), ("itl", 95), ("tpot", 50), ("tpot", 95))
LATENCY_NAMES = ("ttft", "itl", "tpot")
"""The percentiles a slot keeps when it collapses."""


class Slot:
    """One second of one class."""

    __slots__ = ("requests", "failures", "output_tokens", "images", "request_bytes", "in_flight",
                 "ttft", "itl", "tpot", "fixed")

    def __init__(self) -> None:
        self.requests = 0
        """Requests that ended in this second, successfully."""
        self.failures = 0
        self.output_tokens = 0.0
        """Output tokens whose chunks arrived in this second."""
        self.images = 0
        self.request_bytes = 0
        self.in_flight = 0
        """Requests in flight when this second was sampled (summed over workers)."""
        self.ttft: Distribution | None = Distribution()
        self.itl: Distribution | None = Distribution()
        self.tpot: Distribution | None = Distribution()
        self.fixed: dict[str, float | None] | None = None
        """After :meth:`collapse`: the kept percentiles in ms (the distributions are gone)."""

    def merge(self, other: Slot) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.output_tokens += other.output_tokens
        self.images += other.images
        self.request_bytes += other.request_bytes
        self.in_flight += other.in_flight
        if self.fixed is None:
            for name in LATENCY_NAMES:
                mine, theirs = getattr(self, name), getattr(other, name)
                if mine is not None and theirs is not None:
                    mine.merge(theirs)

    def points(self) -> dict[str, float | None]:
        """TTFT and ITL p50/p95 in ms (None without samples)."""
        if self.fixed is not None:
            return self.fixed
        return percentile_points({name: getattr(self, name) for name in LATENCY_NAMES})

    def collapse(self) -> None:
        self.fixed = self.points()
        self.ttft = self.itl = self.tpot = None

    def to_dict(self) -> dict:
        return {
            "r": self.requests, "f": self.failures, "o": self.output_tokens, "i": self.images,
            "b": self.request_bytes, "q": self.in_flight,
            **{name: dist.to_dict() if (dist := getattr(self, name)) is not None and dist.n else None
               for name in LATENCY_NAMES},
        }

    @classmethod
    def from_dict(cls, data: dict) -> Slot:
        slot = cls()
        slot.requests, slot.failures, slot.output_tokens = data["r"], data["f"], data["o"]
        slot.images, slot.request_bytes, slot.in_flight = data["i"], data["b"], data["q"]
        for name in LATENCY_NAMES:
            if data.get(name) is not None:
                setattr(slot, name, Distribution.from_dict(data[name]))
        return slot


def percentile_points(dists: dict[str, Distribution | None]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, q in POINTS:
        dist = dists.get(name)
        value = dist.percentiles([q])[q] * 1e3 if dist is not None and dist.n else None
        out[f"{name}_p{q}_ms"] = value
    return out


class TimeSeries:
    """Slots by wall-clock second and class."""

    def __init__(self) -> None:
        self.slots: dict[int, dict[str, Slot]] = {}

    def _slot(self, second: int, cls: str) -> Slot:
        classes = self.slots.get(second)
        if classes is None:
            classes = self.slots[second] = {}
        slot = classes.get(cls)
        if slot is None:
            slot = classes[cls] = Slot()
        return slot

    def add(self, record: RequestRecord) -> None:
        """Count one finished request in the second it ended (its tokens where they arrived)."""
        cls = record.traffic_class
        slot = self._slot(int(record.wall_start + record.e2e), cls)
        slot.images += record.images
        slot.request_bytes += record.request_bytes
        if not record.ok:
            slot.failures += 1
            return
        slot.requests += 1
        times = record.token_times
        ttft = record.ttft
        if ttft is not None and slot.ttft is not None and slot.itl is not None:
            slot.ttft.add(ttft)
            tpot = record.tpot
            if tpot is not None and slot.tpot is not None:
                slot.tpot.add(tpot)
            slot.itl.add_gaps(times)
        if times and record.output_tokens:
            self._spread_tokens(record, cls)

    def _spread_tokens(self, record: RequestRecord, cls: str) -> None:
        """The request's output tokens, shared evenly by its token-bearing chunks, by arrival second."""
        times = record.token_times
        per_chunk = record.output_tokens / len(times)
        offset = record.wall_start - record.t_start
        first, last = int(times[0] + offset), int(times[-1] + offset)
        if first == last:
            self._slot(first, cls).output_tokens += record.output_tokens
            return
        arrivals = np.floor(np.frombuffer(times, dtype=np.float64) + offset).astype(np.int64)
        seconds, counts = np.unique(arrivals, return_counts=True)
        for second, count in zip(seconds.tolist(), counts.tolist(), strict=True):
            self._slot(second, cls).output_tokens += count * per_chunk

    def sample_in_flight(self, second: int, counts: dict[str, int]) -> None:
        """This process's requests in flight per class, sampled in ``second`` (set, not added)."""
        for cls, n in counts.items():
            self._slot(second, cls).in_flight = n

    def merge(self, other: TimeSeries) -> None:
        for second, classes in other.slots.items():
            for cls, slot in classes.items():
                self._slot(second, cls).merge(slot)

    def collapse(self, before: float) -> None:
        """Keep only the percentiles of the slots older than ``before`` (wall-clock seconds)."""
        for second, classes in self.slots.items():
            if second >= before or ALL in classes:
                continue
            union = {name: _union(getattr(s, name) for s in classes.values()) for name in LATENCY_NAMES}
            for slot in classes.values():
                slot.collapse()
            total = Slot()
            total.fixed = percentile_points(union)
            total.ttft = total.itl = total.tpot = None
            classes[ALL] = total

    def rows(self, cls: str | None = None) -> list[dict]:
        """One row per second, oldest first: for class ``cls``, or all classes (None)."""
        out = []
        for second in sorted(self.slots):
            classes = self.slots[second]
            chosen = [s for c, s in classes.items() if c != ALL and (cls is None or c == cls)]
            if not chosen:
                continue
            if cls is not None:
                points = chosen[0].points()
            elif ALL in classes:
                points = classes[ALL].points()
            else:
                points = percentile_points({name: _union(getattr(s, name) for s in chosen)
                                            for name in LATENCY_NAMES})
            out.append({
                "t": second,
                "requests": sum(s.requests for s in chosen),
                "failures": sum(s.failures for s in chosen),
                "output_tokens": round(sum(s.output_tokens for s in chosen), 3),
                "in_flight": sum(s.in_flight for s in chosen),
                "images": sum(s.images for s in chosen),
                "request_bytes": sum(s.request_bytes for s in chosen),
                **points,
            })
        return out

    def to_dict(self) -> dict:
        return {str(second): {cls: slot.to_dict() for cls, slot in classes.items() if cls != ALL}
                for second, classes in self.slots.items()}

    @classmethod
    def from_dict(cls, data: dict) -> TimeSeries:
        series = cls()
        for second, classes in data.items():
            series.slots[int(second)] = {name: Slot.from_dict(d) for name, d in classes.items()}
        return series


def _union(dists: Iterable[Distribution | None]) -> Distribution | None:
    """One distribution of all of ``dists`` (None when any was collapsed or all are empty)."""
    total = Distribution()
    for dist in dists:
        if dist is None:
            return None
        total.merge(dist)
    return total if total.n else None

