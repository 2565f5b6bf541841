"""Locust's rows for LLM traffic, and the exact metrics beside them.

Locust's Aggregated row and the web UI's header (RPS, failure ratio, the response-time
chart) count what goes through the request event, so only whole requests go there, as
``POST <path> [class]`` (end to end, failures with their grouped reason). The first
token, every later token and each retried attempt get rows of their own (``TTFT``,
``ITL``, ``RETRY``), logged straight into their stats entries, outside Aggregated: a
retried attempt is visible there but is not a failure of the run.

The ITL row takes a sample a token, the most frequent call of the whole tool, so its gaps
are gathered and added to the row a few times a second (:class:`RowBatch`), and always
before a request of theirs is logged whole.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from weakref import WeakValueDictionary

from gevent import get_hub
from locust import stats as locust_stats
from locust.env import Environment
from locust.stats import StatsEntry

from metrics.reasons import group_reason
from streaming.record import RequestRecord


class LLMRequestError(Exception):
    """A failed LLM request; the message is its grouped reason."""


FLUSH_EVERY = 0.25
"""Seconds a batch of ITL samples may wait before it is added to its row."""


class RowBatch:
    """Response times for one Locust stats row, added to it together.

    :meth:`add` keeps a sample; the batch is added to the row :data:`FLUSH_EVERY` seconds
    after its first sample, or sooner by :meth:`flush` (which :class:`LocustReporter` calls
    before it logs a whole request, so a request's gaps are always in the row once the
    request is). A flush adds the batch as one entry through Locust's own
    ``StatsEntry.extend`` (what a master does with a worker's report), bucketed by Locust's
    ``bucket_response_time`` (looked up at each flush: it may be replaced). Measured on the
    per-token path (callgrind, one token a read): ``StatsEntry.log`` cost ~16,000 instructions
    a sample; a sample kept here, bucketed at the flush, with its share of the flush, ~7,000.
    """

    __slots__ = ("entry", "_pending", "_timer", "__weakref__")

    def __init__(self, entry: StatsEntry) -> None:
        self.entry = entry
        self._pending: list[float] = []
        self._timer = None

    def add(self, response_time: float) -> None:
        pending = self._pending
        if not pending:  # a new timer each batch: a libev timer started again fires at once
            self._timer = get_hub().loop.timer(FLUSH_EVERY)
            self._timer.start(self.flush)
        pending.append(response_time)

    def flush(self) -> None:
        """Add every kept sample to the row now (a no-op when none is kept)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        times = self._pending
        if not times:
            return
        self._pending = []
        now = time.time()
        entry = self.entry
        batch = StatsEntry.unserialize({
            "name": entry.name, "method": entry.method, "last_request_timestamp": now, "start_time": now,
            "num_requests": len(times), "num_none_requests": 0, "num_failures": 0,
            "total_response_time": sum(times), "max_response_time": max(times),
            "min_response_time": min(times), "total_content_length": 0,
            "response_times": dict(Counter(map(locust_stats.bucket_response_time, times))),
            "num_reqs_per_sec": {int(now): len(times)}, "num_fail_per_sec": {},
        }, entry.stats)
        entry.extend(batch)


_batches: WeakValueDictionary[int, RowBatch] = WeakValueDictionary()
"""One batch per stats entry (by identity), shared by every user logging into that row; a
batch goes once no reporter holds it (Locust makes new entries for each run it starts)."""


def _batch_for(entry: StatsEntry) -> RowBatch:
    batch = _batches.get(id(entry))
    if batch is None or batch.entry is not entry:
        batch = _batches[id(entry)] = RowBatch(entry)
    return batch


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
        self._itl = _batch_for(stats.get(f"ITL [{traffic_class}]", "LLM"))
        self._retry_log = stats.get(self._name, "RETRY").log
        self._per_token = per_token

    def first_token(self, record: RequestRecord, ttft: float) -> None:
        self._ttft_log(ttft * 1000, 0)

    def token(self, record: RequestRecord, gap: float) -> None:
        """Each inter-token gap goes into its row (in batches, :class:`RowBatch`): a
        request event per token would cost three times as much on the path that caps the whole
        tool (README, Performance)."""
        if self._per_token:
            self._itl.add(gap * 1000)

    def retried(self, record: RequestRecord) -> None:
        """A 429/503 attempt that was sent again: a sample in the RETRY row, not a failure."""
        self._retry_log(record.e2e * 1000, record.response_bytes)
        self._count(record, True)

    def done(self, record: RequestRecord) -> None:
        self._itl.flush()  # the row holds every gap of a request once the request is in the table
        exception = None if record.ok else LLMRequestError(group_reason(record.error))
        self._fire(request_type="POST", name=self._name, response_time=record.e2e * 1000,
                   response_length=record.response_bytes, exception=exception, context={})
        self._count(record, False)
