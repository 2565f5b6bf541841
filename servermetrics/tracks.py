"""One metric followed across a run's scrapes: its statistics over the run and per interval.

Scrapes arrive as ``(t, values, since)``: ``t`` in seconds (wall clock, as the client's time
series), ``values`` one number (or one histogram) per label set, ``since`` the time of the run's
scrape before (None: this is the run's first, whose values are the baseline). Each track turns
them into its block of the summary:

- :class:`GaugeTrack`: ``min``, ``mean`` (of the scrapes), ``max`` and ``last`` of the label
  sets' sum (their mean for fractions), ``series`` ``[[t, value], ...]``, and the same four
  per label set when there are several (``by_labels``).
- :class:`CounterTrack`: what the counter gained over the run (``increase``) and per second
  (``rate``), ``series`` ``[[t, per second since the scrape before], ...]``. A label set that
  goes down was reset (a restart): its new value is what it gained since. One that first
  appears later started from zero after the scrape before.
- :class:`HistogramTrack`: the run's own distribution (bucket counts gained over the run),
  its ``p50``/``p90``/``p99`` interpolated within buckets (as Prometheus'
  ``histogram_quantile``), ``mean``, ``count`` and ``sum`` and their rates, ``series`` of
  ``[t, count, p50, p90, p99]`` for each interval that observed something.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from servermetrics.parse import Buckets

QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
HISTOGRAM_SERIES_FIELDS = ("t", "count", "p50", "p90", "p99")


def quantile(q: float, bounds: list[float], counts: list[float]) -> float | None:
    """The ``q`` quantile of cumulative bucket ``counts`` at upper ``bounds`` (ascending, the
    last +Inf): linear within the bucket holding it, from the bucket below's bound (0 for the
    first bucket, when its bound is positive). A quantile in the +Inf bucket is the largest
    finite bound. None when nothing was observed."""
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    for i, (bound, cumulative) in enumerate(zip(bounds, counts, strict=True)):
        if cumulative >= rank:
            if math.isinf(bound):
                finite = [b for b in bounds if not math.isinf(b)]
                return finite[-1] if finite else None
            low = bounds[i - 1] if i else min(0.0, bound)
            below = counts[i - 1] if i else 0.0
            inside = cumulative - below
            return bound if inside <= 0 else low + (bound - low) * (rank - below) / inside
    return None


@dataclass(slots=True)
class Stats:
    """min, mean, max and last of a stream of numbers."""

    n: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    last: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.low, self.high, self.last = min(self.low, value), max(self.high, value), value

    def block(self) -> dict:
        if not self.n:
            return {"min": None, "mean": None, "max": None, "last": None}
        return {"min": self.low, "mean": self.total / self.n, "max": self.high, "last": self.last}


@dataclass(slots=True)
class GaugeTrack:
    """A gauge: the label sets' sum (or mean, for a fraction) at each scrape."""

    average: bool = False
    """Fractions (KV-cache usage, hit rates) average over label sets instead of adding up."""
    stats: Stats = field(default_factory=Stats)
    by_labels: dict[str, Stats] = field(default_factory=dict)
    series: list[list[float]] = field(default_factory=list)

    def add(self, t: float, values: dict[str, float], since: float | None = None) -> None:
        if not values:
            return
        total = sum(values.values())
        value = total / len(values) if self.average else total
        self.stats.add(value)
        self.series.append([round(t, 3), value])
        for key, v in values.items():
            self.by_labels.setdefault(key, Stats()).add(v)

    @property
    def latest(self) -> float | None:
        return self.stats.last if self.stats.n else None

    def block(self) -> dict:
        out = {"type": "gauge", **self.stats.block(), "series": self.series}
        if len(self.by_labels) > 1:
            out["by_labels"] = {key: stats.block() for key, stats in sorted(self.by_labels.items())}
        return out


@dataclass(slots=True)
class CounterTrack:
    """A counter: its gain over the run and per interval, summed over label sets."""

    first_t: float | None = None
    last_t: float | None = None
    previous: dict[str, float] = field(default_factory=dict)
    increase: float = 0.0
    by_labels: dict[str, float] = field(default_factory=dict)
    series: list[list[float]] = field(default_factory=list)

    def add(self, t: float, values: dict[str, float], since: float | None = None) -> None:
        if self.first_t is None:
            if since is None:
                self.first_t = self.last_t = t
                self.previous = dict(values)
                return
            self.first_t = self.last_t = since
        gained = 0.0
        for key, value in values.items():
            before = self.previous.get(key, 0.0)
            delta = value - before if value >= before else value
            self.by_labels[key] = self.by_labels.get(key, 0.0) + delta
            gained += delta
            self.previous[key] = value
        dt = t - self.last_t  # type: ignore[operator]
        self.increase += gained
        if dt > 0:
            self.series.append([round(t, 3), gained / dt])
        self.last_t = t

    @property
    def latest(self) -> float | None:
        return self.series[-1][1] if self.series else None

    def block(self) -> dict:
        span = (self.last_t or 0.0) - (self.first_t or 0.0)
        out = {"type": "counter", "increase": self.increase,
               "rate": self.increase / span if span > 0 else None, "series": self.series}
        if len(self.by_labels) > 1:
            out["by_labels"] = {key: {"increase": v, "rate": v / span if span > 0 else None}
                                for key, v in sorted(self.by_labels.items())}
        return out


@dataclass(slots=True)
class HistogramTrack:
    """A histogram: the run's own bucket counts (what it gained), summed over label sets."""

    first_t: float | None = None
    last_t: float | None = None
    previous: dict[str, Buckets] = field(default_factory=dict)
    gained: dict[float, float] = field(default_factory=dict)
    """Upper bound -> observations the run added at or below it (cumulative)."""
    sum: float = 0.0
    count: float = 0.0
    series: list[list[float | None]] = field(default_factory=list)

    def add(self, t: float, values: dict[str, Buckets], since: float | None = None) -> None:
        if self.first_t is None:
            if since is None:
                self.first_t = self.last_t = t
                self.previous = dict(values)
                return
            self.first_t = self.last_t = since
        interval: dict[float, float] = {}
        interval_sum = interval_count = 0.0
        for key, now in values.items():
            delta = _gain(self.previous.get(key), now)
            for bound, n in zip(now.bounds, delta.counts, strict=True):
                interval[bound] = interval.get(bound, 0.0) + n
            interval_sum += delta.sum
            interval_count += delta.count
            self.previous[key] = now
        for bound, n in interval.items():
            self.gained[bound] = self.gained.get(bound, 0.0) + n
        self.sum += interval_sum
        self.count += interval_count
        if interval_count > 0:
            bounds = sorted(interval)
            counts = [interval[b] for b in bounds]
            self.series.append([round(t, 3), interval_count,
                                *(quantile(q, bounds, counts) for _, q in QUANTILES)])
        self.last_t = t

    def percentiles(self) -> dict[str, float | None]:
        bounds = sorted(self.gained)
        counts = [self.gained[b] for b in bounds]
        return {name: quantile(q, bounds, counts) for name, q in QUANTILES}

    def block(self) -> dict:
        span = (self.last_t or 0.0) - (self.first_t or 0.0)
        per_s = (lambda x: x / span) if span > 0 else (lambda x: None)
        return {"type": "histogram", "count": self.count, "sum": self.sum,
                "mean": self.sum / self.count if self.count else None, **self.percentiles(),
                "count_rate": per_s(self.count), "sum_rate": per_s(self.sum),
                "series_fields": list(HISTOGRAM_SERIES_FIELDS), "series": self.series}


def _gain(before: Buckets | None, now: Buckets) -> Buckets:
    """What a histogram label set gained since ``before``: all of it when it is new or was reset
    (its count went down), else the differences bucket by bucket."""
    if before is None or now.count < before.count or before.bounds != now.bounds:
        return now
    return Buckets(now.bounds, [a - b for a, b in zip(now.counts, before.counts, strict=True)],
                   now.sum - before.sum, now.count - before.count)
