"""Prometheus text -> gauges, counters and histograms, each under the name the server exposes.

The parsing itself is ``prometheus_client``'s; this adapter only sorts its families:

- gauges (and untyped samples): one value per label set;
- counters: keyed as declared on their ``# TYPE`` line. The parser drops a counter's
  ``_total`` from the family name and adds it to samples that lack it, so TGI's
  ``tgi_request_count`` would come out as ``tgi_request_count_total``; the ``# TYPE`` lines
  say which spelling the server used;
- histograms: cumulative bucket counts, ``sum`` and ``count`` per label set;
- summaries: their ``_count`` and ``_sum`` as two counters (quantiles computed by the server
  over its whole life say nothing about one run).

``*_created`` gauges (a counter's or histogram's creation time, which vLLM exposes for each)
are left out, as are values that are not finite (llama.cpp reports NaN rates before its first
request).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

_COUNTER_TYPE_LINE = re.compile(r"^#\s*TYPE\s+(\S+)\s+counter\s*$", re.MULTILINE)
_OTHER_TYPES = ("counter", "histogram", "gaugehistogram", "summary")


class MetricsFormatError(ValueError):
    """The answer is not Prometheus text, or holds no metric; ``str()`` says why, in one line."""


@dataclass(slots=True)
class Buckets:
    """One histogram label set: cumulative counts at each upper bound (ascending, ending at +Inf)."""

    bounds: list[float] = field(default_factory=list)
    counts: list[float] = field(default_factory=list)
    sum: float = 0.0
    count: float = 0.0


@dataclass(slots=True)
class Scrape:
    """One ``/metrics`` answer: name -> label set (``a="x",b="y"``, sorted; ``""``: none) -> value."""

    gauges: dict[str, dict[str, float]] = field(default_factory=dict)
    counters: dict[str, dict[str, float]] = field(default_factory=dict)
    histograms: dict[str, dict[str, Buckets]] = field(default_factory=dict)

    def names(self) -> set[str]:
        return set(self.gauges) | set(self.counters) | set(self.histograms)


def label_key(labels: dict[str, str], drop: str = "") -> str:
    """A label set as one sorted string, without the label ``drop`` (``le`` for buckets)."""
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != drop)


def parse(text: str) -> Scrape:
    """Sort the families of ``text``; :class:`MetricsFormatError` when it is not Prometheus text."""
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as exc:  # noqa: BLE001 - any parser failure on a server's answer means "not metrics"
        raise MetricsFormatError(f"not Prometheus text ({_short(str(exc) or type(exc).__name__)})") from None
    if not families:
        raise MetricsFormatError("the answer holds no metric")
    declared_counters = set(_COUNTER_TYPE_LINE.findall(text))
    typed = {f.name for f in families if f.type in _OTHER_TYPES}
    scrape = Scrape()
    for family in families:
        if family.type == "counter":
            _counter(scrape, family, declared_counters)
        elif family.type in ("histogram", "gaugehistogram"):
            _histogram(scrape, family)
        elif family.type == "summary":
            _summary(scrape, family)
        elif not (family.name.endswith("_created") and family.name.removesuffix("_created") in typed):
            _gauge(scrape, family)
    return scrape


def _gauge(scrape: Scrape, family) -> None:
    values = {label_key(s.labels): s.value for s in family.samples if math.isfinite(s.value)}
    if values:
        scrape.gauges.setdefault(family.name, {}).update(values)


def _counter(scrape: Scrape, family, declared: set[str]) -> None:
    name = family.name if family.name in declared else family.name + "_total"
    values = {label_key(s.labels): s.value for s in family.samples
              if s.name.endswith("_total") and math.isfinite(s.value)}
    if values:
        scrape.counters.setdefault(name, {}).update(values)


def _summary(scrape: Scrape, family) -> None:
    for sample in family.samples:
        for suffix in ("_count", "_sum"):
            if sample.name == family.name + suffix and math.isfinite(sample.value):
                scrape.counters.setdefault(sample.name, {})[label_key(sample.labels)] = sample.value


def _histogram(scrape: Scrape, family) -> None:
    sets: dict[str, Buckets] = {}
    for sample in family.samples:
        suffix = sample.name[len(family.name):]
        if suffix not in ("_bucket", "_sum", "_count", "_gsum", "_gcount"):
            continue
        buckets = sets.setdefault(label_key(sample.labels, drop="le"), Buckets())
        if suffix == "_bucket":
            buckets.bounds.append(float(sample.labels["le"]))
            buckets.counts.append(sample.value)
        elif suffix in ("_sum", "_gsum"):
            buckets.sum = sample.value
        else:
            buckets.count = sample.value
    for buckets in sets.values():
        order = sorted(range(len(buckets.bounds)), key=buckets.bounds.__getitem__)
        buckets.bounds = [buckets.bounds[i] for i in order]
        buckets.counts = [buckets.counts[i] for i in order]
        if not buckets.count and buckets.counts:
            buckets.count = buckets.counts[-1]
    if sets:
        scrape.histograms.setdefault(family.name, {}).update(sets)


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
