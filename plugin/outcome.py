"""How a run ended, for a pipeline: the exit code from the summary, and the lines printed last.

Pure functions of the summary (and the few facts it does not hold), so the rules are read,
and tested, in one place. The exit codes (also in the README):

| code | when |
| --- | --- |
| 0 | every request succeeded (requests the stop cancelled do not count against the run) |
| 1 | a request (or a batch) failed, or a user raised an exception |
| 2 | bad input at start (one line naming the value) |
| 3 | a headless run that never started or counted nothing (a master no worker joined) |
| 4 | an ``--slo`` was breached or had nothing to measure (failures give 1 first, unless an
      ``error_rate`` SLO is their budget) |
| 5 | stopped early: the first requests all failed with one client error that would repeat |
| 6 | a worker was lost mid-run and ``--fail-on-worker-loss`` was given |
"""

from __future__ import annotations

from dataclasses import dataclass

from transport.inflight import CANCELLED_AT_STOP, CANCELLED_BEFORE_RETRY

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_NOTHING_COUNTED = 0, 1, 2, 3
EXIT_SLO_BREACHED, EXIT_REPEATED_ERROR, EXIT_WORKER_LOST = 4, 5, 6
CANCELLED_BY_STOP = frozenset({CANCELLED_AT_STOP, CANCELLED_BEFORE_RETRY})
"""Failure reasons that are the stop's own doing: counted and shown, never a failed run."""
BATCH_FAILURES = ("failed", "expired", "error", "check_failed")
"""Batch outcomes that fail the run (cancelled ones were asked for; stopped ones are the stop's)."""
BATCH_OUTCOMES = ("completed", "cancelled", "stopped", *BATCH_FAILURES)


@dataclass(frozen=True, slots=True)
class Facts:
    """What decides the exit code besides the summary."""

    stopped_early: bool = False
    user_exceptions: int = 0
    fail_on_worker_loss: bool = False


def counted(summary: dict) -> int:
    """Requests and batches the run counted (every outcome)."""
    batches = sum(summary.get(f"batch_{outcome}", 0) for outcome in BATCH_OUTCOMES)
    return summary["completed"] + summary["failed"] + batches


def exit_code(summary: dict, facts: Facts) -> int:
    """The process's exit code from the run's final outcomes (the table above, in its order)."""
    if facts.stopped_early:
        return EXIT_REPEATED_ERROR
    if counted(summary) == 0:
        return EXIT_NOTHING_COUNTED
    failed = summary["failed"] - summary.get("cancelled_by_stop", 0)
    failed += sum(summary.get(f"batch_{outcome}", 0) for outcome in BATCH_FAILURES)
    slos = summary.get("slos") or []
    error_budget = any(slo["name"] == "error_rate" for slo in slos)
    if (failed > 0 and not error_budget) or facts.user_exceptions:
        return EXIT_FAILED
    if not all(slo["met"] for slo in slos):
        return EXIT_SLO_BREACHED
    if summary.get("lost_workers") and facts.fail_on_worker_loss:
        return EXIT_WORKER_LOST
    return EXIT_OK
