"""Service-level objectives that gate a run: ``--slo NAME=MAX``, checked against the summary.

NAME is ``{mean,median,p90,p95,p99}_{ttft,tpot,itl,e2el}_ms`` (a key of the summary, in
milliseconds) or ``error_rate``: failed requests over all requests, both without the ones
the stop cancelled (the test's own doing, see the README's exit codes), from 0 to 1. Each
objective is met when the measured value is at most MAX; one with nothing to measure (no
TTFT in a non-streamed run) counts as breached, since it cannot be shown met. Pure: knows
neither Locust nor the collector, only the summary's keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

STATS = ("mean", "median", "p90", "p95", "p99")
LATENCIES = ("ttft", "tpot", "itl", "e2el")
ERROR_RATE = "error_rate"
NAMES = (*(f"{stat}_{name}_ms" for name in LATENCIES for stat in STATS), ERROR_RATE)
ACCEPTED = "{mean,median,p90,p95,p99}_{ttft,tpot,itl,e2el}_ms or error_rate"


@dataclass(frozen=True, slots=True)
class Slo:
    """One objective: ``name`` must measure at most ``limit`` (ms, or a ratio for error_rate)."""

    name: str
    limit: float

    def __str__(self) -> str:
        return f"{self.name}={self.limit:g}"


@dataclass(frozen=True, slots=True)
class SloResult:
    slo: Slo
    measured: float | None
    """The run's value (None: nothing to measure)."""
    met: bool


def split_values(values: Iterable[str] | str | None) -> list[str]:
    """The items of a repeated option: each given value may hold several, separated by commas
    or spaces (a conf-file key or an environment variable gives one string)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [item for value in values for item in str(value).replace(",", " ").split()]


def parse_slos(values: Iterable[str] | str | None) -> tuple[Slo, ...]:
    """``["p95_ttft_ms=200", "error_rate=0.01"]`` -> objectives. Raises ValueError, one line."""
    slos: dict[str, Slo] = {}
    for item in split_values(values):
        name, sep, limit_text = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in NAMES:
            raise ValueError(f"--slo {item!r}: expected NAME=MAX with NAME {ACCEPTED}")
        try:
            limit = float(limit_text)
        except ValueError:
            raise ValueError(f"--slo {item!r}: MAX must be a number") from None
        if name == ERROR_RATE and not 0 <= limit <= 1:
            raise ValueError(f"--slo {item!r}: error_rate is a ratio from 0 to 1")
        if name != ERROR_RATE and not limit > 0:
            raise ValueError(f"--slo {item!r}: expected milliseconds > 0")
        if name in slos:
            raise ValueError(f"--slo {item!r}: {name} is given twice ({slos[name]})")
        slos[name] = Slo(name, limit)
    return tuple(slos.values())


def error_rate(summary: dict) -> float | None:
    """Failed over all requests, without the ones the stop cancelled (None: no request)."""
    cancelled = summary.get("cancelled_by_stop", 0)
    judged = summary["completed"] + summary["failed"] - cancelled
    return (summary["failed"] - cancelled) / judged if judged > 0 else None


def measure(name: str, summary: dict) -> float | None:
    return error_rate(summary) if name == ERROR_RATE else summary.get(name)


def evaluate(slos: Iterable[Slo], summary: dict) -> list[SloResult]:
    results = []
    for slo in slos:
        value = measure(slo.name, summary)
        results.append(SloResult(slo, value, value is not None and value <= slo.limit))
    return results


def breached(results: Iterable[SloResult]) -> list[SloResult]:
    return [r for r in results if not r.met]


def to_json(results: Iterable[SloResult]) -> list[dict]:
    """The summary's ``slos``: one entry per objective."""
    return [{"name": r.slo.name, "max": r.slo.limit, "measured": r.measured, "met": r.met} for r in results]


def format_value(name: str, value: float | None) -> str:
    if value is None:
        return "n/a (no sample)"
    return f"{value:.4f}" if name == ERROR_RATE else f"{value:.2f} ms"


def format_results(entries: list[dict]) -> str:
    """The console lines for the summary's ``slos`` (:func:`to_json`): a heading with the counts,
    then one line per objective."""
    broken = sum(not e["met"] for e in entries)
    lines = [f"SLOs: {len(entries) - broken} met, {broken} breached"]
    for e in entries:
        status = "met     " if e["met"] else "BREACHED"
        limit = f"{e['max']:g}" + ("" if e["name"] == ERROR_RATE else " ms")
        lines.append(f"  {status}  {e['name']} <= {limit}: measured {format_value(e['name'], e['measured'])}")
    return "\n".join(lines)
