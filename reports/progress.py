"""A headless run's progress on one updating terminal line: elapsed and remaining time (a bar when
``-t`` is set), requests, output tokens/s, TTFT p50 and errors.

    45%|██████████▌             | 00:27<00:33  1,234 req  5,678 tok/s  TTFT p50 123 ms  2 errors

Only on a terminal (stderr), only for a headless run's master or local process, and not with
``--only-summary``. The line is written as ``CR, erase line, text, CR``: the cursor stays at its
start, so whatever Locust prints next (its stats table every 2 s, log lines) writes over it, and
the next update appears below that, as the last line. The bar is tqdm's ``format_meter`` (a
string formatter; no tqdm bar object owns the terminal). Tokens/s are those that arrived over
the last 10 s; a master's lag 4 s behind (its workers report every 3 s). TTFT p50 is the run's
so far.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from tqdm import tqdm

from metrics.collector import LlmMetrics
from metrics.distribution import Distribution
from metrics.timeseries import ALL

WINDOW = 10
"""Seconds of output tokens the tokens/s figure averages."""
MASTER_LAG = 4
"""Seconds a master's figures lag: the last ones have not come from the workers yet."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    requests: int
    errors: int
    tokens_per_s: float
    ttft_p50_ms: float | None


def snapshot(metrics: LlmMetrics, now: float, started: float, lag: float = 1.0) -> Snapshot:
    """The figures of the line, from the run's metrics at wall-clock ``now``."""
    classes = list(metrics.classes.values())
    ttft = Distribution()
    for m in classes:
        ttft.merge(m.dists["ttft"])
    end = int(now - lag)
    window = max(1, min(WINDOW, end - int(started)))
    slots = metrics.series.slots
    tokens = sum(slot.output_tokens for second in range(end - window, end)
                 for cls, slot in slots.get(second, {}).items() if cls != ALL)
    return Snapshot(
        requests=sum(m.completed + m.failed for m in classes),
        errors=sum(m.failed for m in classes),
        tokens_per_s=tokens / window,
        ttft_p50_ms=ttft.percentiles([50])[50] * 1e3 if ttft.n else None,
    )


def format_line(snap: Snapshot, elapsed: float, run_time: float | None, width: int) -> str:
    """The line, at most ``width`` characters."""
    ttft = "n/a" if snap.ttft_p50_ms is None else f"{snap.ttft_p50_ms:.0f} ms"
    stats = (f"{snap.requests:,} req  {snap.tokens_per_s:,.0f} tok/s  TTFT p50 {ttft}  "
             f"{snap.errors:,} error{'' if snap.errors == 1 else 's'}")
    if run_time:
        bar_cols = max(24, min(60, width - len(stats) - 2))
        left = tqdm.format_meter(min(elapsed, run_time), run_time, elapsed, ncols=bar_cols,
                                 bar_format="{percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
    else:
        left = tqdm.format_meter(elapsed, None, elapsed, bar_format="{elapsed}")
    return f"{left}  {stats}"[:width]


class Progress:
    """The progress line of one run, written to ``stream``."""

    def __init__(self, stream: TextIO, started: float, run_time: float | None = None, lag: float = 1.0,
                 width: int | None = None) -> None:
        self.stream = stream
        self.started = started
        """Wall-clock start of the run."""
        self.run_time = run_time
        self.lag = lag
        self._width = width
        self.shown = False

    @classmethod
    def for_run(cls, options: Any, started: float, master: bool = False,
                stream: TextIO | None = None) -> Progress | None:
        """The line for a run with Locust's ``options``, or None where it stays quiet."""
        stream = stream or sys.stderr
        if not getattr(options, "headless", False) or getattr(options, "only_summary", False):
            return None
        if not stream.isatty():
            return None
        return cls(stream, started, getattr(options, "run_time", None) or None, MASTER_LAG if master else 1.0)

    @property
    def width(self) -> int:
        return self._width or max(40, min(shutil.get_terminal_size().columns - 1, 140))

    def show(self, metrics: LlmMetrics, now: float) -> None:
        """Draw the line again with the figures at wall-clock ``now``."""
        line = format_line(snapshot(metrics, now, self.started, self.lag), now - self.started, self.run_time,
                           self.width)
        self.stream.write(f"\r\x1b[K{line}\r")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Erase the line (the summary follows on a clean line)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
