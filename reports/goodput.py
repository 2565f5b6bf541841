"""Goodput in vLLM's sense: requests per second that met every per-request bound given.

``--goodput ttft:MS tpot:MS e2el:MS`` (any subset, as ``vllm bench serve --goodput``): a
request is *good* when it succeeded and each given bound holds for it. vLLM's rules are
kept: a request of one output token has a TPOT of 0; a non-streamed request's first token
comes with its whole answer, so its TTFT is its end-to-end latency. The summary's
``request_goodput`` is good requests over the run's duration; ``goodput_share`` is good
requests over the requests judged (failures included, requests the stop cancelled not).
Each request is judged as it is counted (:class:`metrics.collector.LlmMetrics`), since the
distributions alone cannot tell which requests met all bounds at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from reports.slo import split_values

NAMES = ("ttft", "tpot", "e2el")


class Timed(Protocol):
    """What a bound is checked on (a :class:`streaming.record.RequestRecord`)."""

    @property
    def ok(self) -> bool: ...
    @property
    def ttft(self) -> float | None: ...
    @property
    def tpot(self) -> float | None: ...
    @property
    def e2e(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Goodput:
    """Per-request bounds in seconds; None: not bounded."""

    ttft: float | None = None
    tpot: float | None = None
    e2el: float | None = None

    def met(self, record: Timed) -> bool:
        """The request succeeded and met every bound."""
        if not record.ok:
            return False
        e2e = record.e2e
        if self.e2el is not None and e2e > self.e2el:
            return False
        if self.ttft is not None:
            ttft = record.ttft
            if (e2e if ttft is None else ttft) > self.ttft:
                return False
        return self.tpot is None or (record.tpot or 0.0) <= self.tpot

    def __str__(self) -> str:
        return " ".join(f"{name}:{getattr(self, name) * 1e3:g}" for name in NAMES
                        if getattr(self, name) is not None)

    def to_json(self) -> dict[str, float]:
        """The bounds in ms, as the summary states them."""
        return {name: getattr(self, name) * 1e3 for name in NAMES if getattr(self, name) is not None}


def parse_goodput(values: list[str] | str | None) -> Goodput | None:
    """``["ttft:125", "tpot:10"]`` (or ``"ttft:125 tpot:10"``) -> bounds; None when none given.
    Raises ValueError with one line."""
    bounds: dict[str, float] = {}
    for item in split_values(values):
        name, sep, ms_text = item.partition(":")
        name = name.strip().lower()
        if not sep or name not in NAMES:
            raise ValueError(f"--goodput {item!r}: expected NAME:MS with NAME one of {', '.join(NAMES)} "
                             "(user classes go before --goodput, or after another option)")
        try:
            ms = float(ms_text)
        except ValueError:
            raise ValueError(f"--goodput {item!r}: MS must be a number") from None
        if not ms > 0:
            raise ValueError(f"--goodput {item!r}: expected milliseconds > 0")
        if name in bounds:
            raise ValueError(f"--goodput {item!r}: {name} is given twice")
        bounds[name] = ms / 1e3
    return Goodput(**bounds) if bounds else None


def goodput_fields(good: int, judged: int, duration: float) -> dict[str, float | None]:
    """``request_goodput`` (good requests/s) and ``goodput_share`` (good over judged)."""
    return {
        "good_requests": good,
        "request_goodput": good / duration if duration > 0 else 0.0,
        "goodput_share": good / judged if judged > 0 else None,
    }
