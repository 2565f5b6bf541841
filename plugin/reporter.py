"""Locust's rows for LLM traffic, and the exact metrics beside them.

Locust's Aggregated row and the web UI's header (RPS, failure ratio, the response-time
chart) count what goes through the request event, so only whole requests go there, as
``POST <path> [class]`` (end to end, failures with their grouped reason). The first
token, every later token and each retried attempt get rows of their own (``TTFT``,
``ITL``, ``RETRY``), logged straight into their stats entries, outside Aggregated: a
retried attempt is visible there but is not a failure of the run.
"""

from __future__ import annotations

from collections.abc import Callable

from locust.env import Environment
from metrics.reasons import group_reason

from streaming.record import RequestRecord


class LLMRequestError(Exception):
    """A failed LLM request; the message is its grouped reason."""


class LocustReporter:
    """Fires a user's records into Locust's stats and hands them to ``count`` once each."""

    def __init__(
        self,
        environment: Environment,
        path: str,
        traffic_class: str,
        count: Callable[[RequestRecord, bool], None],
        per_token: bool = True,
    ) -> None:
        self._fire = environment.events.request.fire
        self._count = count
        self._name = f"{path} [{traffic_class}]"
        stats = environment.stats
        self._ttft_log = stats.get(f"TTFT [{traffic_class}]", "LLM").log
        self._itl_log = stats.get(f"ITL [{traffic_class}]", "LLM").log
        self._retry_log = stats.get(self._name, "RETRY").log
        self._per_token = per_token

    def first_token(self, record: RequestRecord, ttft: float) -> None:
        self._ttft_log(ttft * 1000, 0)

    def token(self, record: RequestRecord, gap: float) -> None:
        """Each inter-token gap goes straight into its row: a request event per token would
        cost three times as much on the path that caps the whole tool (README, Performance)."""
        if self._per_token:
            self._itl_log(gap * 1000, 0)

    def retried(self, record: RequestRecord) -> None:
        """A 429/503 attempt that was sent again: a sample in the RETRY row, not a failure."""
        self._retry_log(record.e2e * 1000, record.response_bytes)
        self._count(record, True)

    def done(self, record: RequestRecord) -> None:
        exception = None if record.ok else LLMRequestError(group_reason(record.error))
        self._fire(request_type="POST", name=self._name, response_time=record.e2e * 1000,
                   response_length=record.response_bytes, exception=exception, context={})
        self._count(record, False)
