"""Locust's rows for the Batch API workload, and which of them Aggregated counts.

Through the request event, so in Aggregated, the RPS and the failures table: the calls that
do a batch's work, ``POST /v1/files [batch]`` (upload), ``POST /v1/batches [batch]`` (create),
``POST /v1/batches/{id}/cancel [batch]`` and ``GET /v1/files/{id}/content [batch]`` (output and
error files). Logged straight into rows of their own, outside Aggregated, as TTFT and RETRY are:

- ``POLL /v1/batches/{id} [batch]``: the status polls. Their number is set by the poll interval,
  not by the load, and they are most of the calls (a batch of a few minutes polled every 5 to
  60 s takes a dozen polls for its 4 other calls), so in Aggregated they would set its count,
  RPS and median. A failed poll is a failure in its row only: the batch fails when polls keep
  failing, and then its own row says so.
- ``BATCH turnaround [batch]``: one sample per completed batch, created -> completed. Failed and
  expired batches, batches given up on and batches whose files did not check out are this
  row's failures, with their reason (also in the failures table, not in Aggregated's count).
- ``BATCH cancel [batch]``: per cancelled batch, the cancel request -> ``cancelled``.

A batch cancelled because the test stopped gets no row (the summary counts it as ``stopped``).
"""

from __future__ import annotations

from locust.env import Environment
from locust.stats import StatsError

from batch.client import Call
from batch.result import BatchResult
from metrics.reasons import group_reason


class BatchCallError(Exception):
    """A failed batch call or batch; the message is its reason."""


class BatchRows:
    """Fires a batch user's calls and batches into Locust's stats."""

    def __init__(self, environment: Environment, traffic_class: str = "batch") -> None:
        self._fire = environment.events.request.fire
        self._stats = environment.stats
        self._class = traffic_class
        self._poll = f"/v1/batches/{{id}} [{traffic_class}]"
        self._turnaround = f"turnaround [{traffic_class}]"
        self._cancel = f"cancel [{traffic_class}]"

    def call(self, call: Call) -> None:
        """The reporting seam of :class:`batch.client.BatchRun`."""
        ms = call.seconds * 1000
        if call.step == "poll":
            self._stats.get(self._poll, "POLL").log(ms, call.response_bytes)
            if call.error:
                self._error("POLL", self._poll, call.error)
            return
        exception = BatchCallError(call.error) if call.error else None
        self._fire(request_type=call.method, name=f"{call.name} [{self._class}]", response_time=ms,
                   response_length=call.response_bytes, exception=exception, context={})

    def batch_done(self, result: BatchResult) -> None:
        """One finished batch: its turnaround, its cancel time, or why it failed."""
        if result.outcome == "stopped":
            return
        turnaround = result.turnaround
        if turnaround is not None:
            self._stats.get(self._turnaround, "BATCH").log(turnaround * 1000, 0)
        cancelled = result.seen.get("cancelled")
        if result.outcome == "cancelled" and cancelled is not None and result.cancel_sent is not None:
            self._stats.get(self._cancel, "BATCH").log((cancelled - result.cancel_sent) * 1000, 0)
        reason = failure_reason(result)
        if reason:
            self._error("BATCH", self._turnaround, group_reason(reason))

    def _error(self, method: str, name: str, reason: str) -> None:
        """A failure in the row and in the failures table, leaving Aggregated's total alone."""
        self._stats.get(name, method).log_error(reason)
        key = StatsError.create_key(method, name, reason)
        entry = self._stats.errors.get(key)
        if entry is None:
            entry = self._stats.errors[key] = StatsError(method, name, reason)
        entry.occurred()


def failure_reason(result: BatchResult) -> str | None:
    """Why a finished batch counts as failed (None: it did not)."""
    if result.outcome == "error":
        return result.error
    if result.outcome == "failed":
        return "batch failed" + (f": {result.server_errors[0]}" if result.server_errors else "")
    if result.outcome == "expired":
        return "batch expired"
    check = result.check
    if check is not None and not check.passed:
        return f"output check: {next(iter(check.problems))}"
    return None
