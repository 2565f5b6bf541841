"""Batch figures, built from batch results; mergeable across workers like the chat metrics.

Per batch: how it ended, when each state was first seen (seconds after the create call
returned), its turnaround (created -> completed), lines per second, and what its files said
of every line. Times come from polls, so each is late by up to one poll interval; the summary
says so by its keys' ``_s`` (seconds) and the README.
"""

from __future__ import annotations

from collections import Counter

from batch.result import OUTCOMES, STATES, BatchResult
from metrics.distribution import Distribution
from metrics.reasons import group_reason

LINE_KINDS = ("completed", "failed", "expired", "cancelled", "missing", "not_run")
"""What became of the lines sent: answered, failed, never run because the batch expired or was
cancelled, missing from a completed batch's files, or in a batch that never ran them (failed
validation, given up on, stopped)."""


class BatchMetrics:
    """Counts and exact distributions over the batches of a run."""

    __slots__ = ("outcomes", "failures", "turnaround", "state_times", "lines_per_s", "lines", "lines_sent",
                 "check_failed", "input_tokens", "output_tokens", "wall_first", "wall_last")

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        """Outcome (:data:`batch.result.OUTCOMES`) -> batches."""
        self.failures: Counter[str] = Counter()
        """Grouped reason -> batches: calls given up on, validation errors, files that did not check out."""
        self.turnaround = Distribution()
        self.state_times: dict[str, Distribution] = {}
        """Status -> seconds from creation until a poll first saw it."""
        self.lines_per_s = Distribution()
        self.lines: Counter[str] = Counter()
        """Line kind (:data:`LINE_KINDS`) -> lines."""
        self.lines_sent = 0
        self.check_failed = 0
        """Batches whose output and error files did not check out."""
        self.input_tokens = 0
        self.output_tokens = 0
        self.wall_first = 0.0
        """Wall-clock creation of the earliest batch."""
        self.wall_last = 0.0
        """Wall-clock end of the latest batch."""

    @property
    def batches(self) -> int:
        return sum(self.outcomes.values())

    def add(self, result: BatchResult) -> None:
        """Count one finished batch, exactly once."""
        self.outcomes[result.outcome] += 1
        self.lines_sent += result.lines
        if result.wall_created and (not self.wall_first or result.wall_created < self.wall_first):
            self.wall_first = result.wall_created
        self.wall_last = max(self.wall_last, result.wall_end)
        for status, seconds in result.seen.items():
            self.state_times.setdefault(status, Distribution()).add(seconds)
        if result.turnaround is not None:
            self.turnaround.add(result.turnaround)
            self.lines_per_s.add(result.lines_per_s or 0.0)
        if result.error and result.outcome == "error":
            self.failures[group_reason(result.error)] += 1
        for line in result.server_errors[:1]:
            self.failures[group_reason(f"batch failed: {line}")] += 1
        self._add_lines(result)

    def _add_lines(self, result: BatchResult) -> None:
        check = result.check
        if check is None:
            self.lines["not_run"] += result.lines
            return
        counted = {"completed": check.ok, "failed": check.failed, "expired": check.expired,
                   "cancelled": check.cancelled, "missing": check.missing}
        self.lines.update(counted)
        self.lines["not_run"] += max(result.lines - sum(counted.values()), 0)
        self.input_tokens += check.input_tokens
        self.output_tokens += check.output_tokens
        if not check.passed:
            self.check_failed += 1
            for problem in check.problems:
                self.failures[f"output check: {problem}"] += 1

    def merge(self, other: BatchMetrics) -> None:
        self.outcomes.update(other.outcomes)
        self.failures.update(other.failures)
        self.turnaround.merge(other.turnaround)
        self.lines_per_s.merge(other.lines_per_s)
        for status, dist in other.state_times.items():
            self.state_times.setdefault(status, Distribution()).merge(dist)
        self.lines.update(other.lines)
        self.lines_sent += other.lines_sent
        self.check_failed += other.check_failed
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        if other.wall_first and (not self.wall_first or other.wall_first < self.wall_first):
            self.wall_first = other.wall_first
        self.wall_last = max(self.wall_last, other.wall_last)

    def to_dict(self) -> dict:
        """Plain types only, for worker -> master messages."""
        return {
            "outcomes": dict(self.outcomes), "failures": dict(self.failures),
            "turnaround": self.turnaround.to_dict(), "lines_per_s": self.lines_per_s.to_dict(),
            "state_times": {s: d.to_dict() for s, d in self.state_times.items()},
            "lines": dict(self.lines), "lines_sent": self.lines_sent, "check_failed": self.check_failed,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "wall_first": self.wall_first, "wall_last": self.wall_last,
        }

    @classmethod
    def from_dict(cls, data: dict) -> BatchMetrics:
        m = cls()
        m.outcomes, m.failures = Counter(data["outcomes"]), Counter(data["failures"])
        m.lines = Counter(data["lines"])
        m.turnaround = Distribution.from_dict(data["turnaround"])
        m.lines_per_s = Distribution.from_dict(data["lines_per_s"])
        m.state_times = {s: Distribution.from_dict(d) for s, d in data["state_times"].items()}
        for key in ("lines_sent", "check_failed", "input_tokens", "output_tokens", "wall_first", "wall_last"):
            setattr(m, key, data[key])
        return m

    def summary(self) -> dict:
        """The summary's batch keys (see the README's "Batch API")."""
        out: dict = {f"batch_{outcome}": self.outcomes.get(outcome, 0) for outcome in OUTCOMES}
        out["batch_check_failed"] = self.check_failed
        for name, dist in (("batch_turnaround_s", self.turnaround), ("batch_lines_per_s", self.lines_per_s)):
            out.update({f"{stat}_{name}": value for stat, value in _stats(dist).items()})
        span = self.wall_last - self.wall_first if self.wall_first else 0.0
        out["batch_line_throughput"] = self.lines["completed"] / span if span > 0 else 0.0
        out["batch_lines_sent"] = self.lines_sent
        out.update({f"batch_lines_{kind}": self.lines.get(kind, 0) for kind in LINE_KINDS})
        out["batch_input_tokens"], out["batch_output_tokens"] = self.input_tokens, self.output_tokens
        out["batch_time_to_state_s"] = {
            status: _stats(self.state_times[status])
            for status in STATES if status in self.state_times}
        out["batch_failures"] = dict(self.failures.most_common())
        return out


def _stats(dist: Distribution) -> dict[str, float | None]:
    """Mean, p50 and p99 of ``dist``; None when it has no sample."""
    if not dist.n:
        return dict.fromkeys(("mean", "p50", "p99"))
    pct = dist.percentiles((50, 99))
    return {"mean": dist.mean, "p50": pct[50], "p99": pct[99]}


def format_lines(summary: dict) -> list[str]:
    """The console table's batch rows (empty when the run had no batch)."""
    if "batch_completed" not in summary:
        return []
    ends = ", ".join(f"{o} {summary[f'batch_{o}']}" for o in OUTCOMES if summary[f"batch_{o}"])
    lines = ["-" * 74, f"{'Batches:':<24}{ends or '-'}"]
    turnaround = summary["mean_batch_turnaround_s"]
    if turnaround is not None:
        p50, p99 = summary["p50_batch_turnaround_s"], summary["p99_batch_turnaround_s"]
        lines.append(f"{'Turnaround (s):':<24}mean {turnaround:.2f}, p50 {p50:.2f}, p99 {p99:.2f}")
    kinds = ", ".join(f"{k} {summary[f'batch_lines_{k}']}" for k in LINE_KINDS if summary[f"batch_lines_{k}"])
    lines.append(f"{'Batch lines:':<24}sent {summary['batch_lines_sent']}" + (f", {kinds}" if kinds else ""))
    lines.append(f"{'Batch lines/s:':<24}{summary['batch_line_throughput']:.2f} over the batches' span")
    if summary["batch_failures"]:
        lines.append("Batch failures:")
        lines += [f"  {count:>8}  {reason}" for reason, count in summary["batch_failures"].items()]
    return lines
