"""LLM metrics per traffic class, built from request records; mergeable across workers.

Besides latencies and counts, each class keeps how the server's ``usage.prompt_tokens``
compared with the prompt the client planned, as a count per difference, so the summary can
tell a tokenizer or template other than the server's, and images the server ignored
(:mod:`metrics.prompt_check`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from batch.result import BatchResult
from metrics.batch import BatchMetrics
from metrics.distribution import Distribution
from metrics.prompt_check import prompt_delta
from metrics.reasons import group_reason
from metrics.timeseries import TimeSeries
from reports.csv import request_row
from reports.goodput import Goodput
from streaming.record import RequestRecord

LATENCIES = ("ttft", "tpot", "itl", "e2el")
SERVER_SIDE = ("ttfo", "server_prefill", "server_itl", "ttft_minus_server_prefill")
"""Distributions beside the latencies: time to the first answer token (after any reasoning), the
server's own TTFT and gaps between tokens (MindIE's ``prefill_time`` and ``decode_time_arr``), and
client TTFT minus the server's (network and queueing), per request where both are known."""


class ClassMetrics:
    """Counters and exact distributions for one traffic class (or for all of them)."""

    __slots__ = (
        "completed", "failed", "failures", "input_tokens", "output_tokens", "token_sources",
        "request_bytes", "response_bytes", "wall_first", "wall_last", "dists", "ttft_by_turn", "retries",
        "resent", "prompt_deltas", "image_prompt_deltas", "prompt_example", "images", "good",
        "image_pixels", "image_bytes",
        "reasoning_tokens", "reasoning_sources", "full_text_checked", "full_text_differs",
    )

    def __init__(self) -> None:
        self.completed = 0
        self.failed = 0
        self.failures: Counter[str] = Counter()
        """Grouped failure reason (:func:`group_reason`) -> count; ``record.error`` keeps the raw one."""
        self.input_tokens = 0
        self.output_tokens = 0
        self.token_sources: Counter[str] = Counter()
        """Where output-token counts came from ("usage", "max_tokens", "tokenizer", "chunks")."""
        self.request_bytes = 0
        self.response_bytes = 0
        self.wall_first = 0.0
        """Wall-clock send time of the earliest request."""
        self.wall_last = 0.0
        """Wall-clock end of the latest request."""
        self.dists = {name: Distribution() for name in (*LATENCIES, *SERVER_SIDE, "queue")}
        """The latencies, :data:`SERVER_SIDE`, and open-loop queue times (arrival to send;
        failures included). A difference below zero (TTFT - server prefill) reads as itself."""
        self.ttft_by_turn: dict[int, Distribution] = {}
        self.retries: Counter[str] = Counter()
        """Attempts answered 429/503 and sent again, by grouped reason (not counted as requests)."""
        self.resent = 0
        """Requests sent once more on a fresh connection, the reused one closed unanswered."""
        self.prompt_deltas: Counter[int] = Counter()
        """Successful text requests: server prompt tokens minus planned -> count."""
        self.image_prompt_deltas: Counter[int] = Counter()
        """Successful image requests: server prompt tokens minus the planned text alone -> count."""
        self.prompt_example: list[int] | None = None
        """[planned, server] prompt tokens of the first text request they differed on."""
        self.images = 0
        self.image_pixels = 0
        """Pixels of the images sent, where the client knows them (our own images)."""
        self.image_bytes = 0
        """Images the finished requests carried (failures included: they were sent)."""
        self.good = 0
        """Requests that met every ``--goodput`` bound (counted by :class:`LlmMetrics`)."""
        self.reasoning_tokens = 0
        """Of ``output_tokens``, the reasoning ones."""
        self.reasoning_sources: Counter[str] = Counter()
        """Where reasoning-token counts came from ("usage", "tokenizer", "chunks"), per request with any."""
        self.full_text_checked = 0
        """Successful requests whose server sent MindIE's ``full_text``."""
        self.full_text_differs = 0
        """Of those, requests whose deltas did not add up to the ``full_text``."""

    def add_retry(self, record: RequestRecord) -> None:
        self.retries[group_reason(record.error or f"HTTP {record.status}")] += 1
        self.request_bytes += record.request_bytes

    def add(self, record: RequestRecord) -> None:
        """Count one finished request: a success or a classified failure, exactly once."""
        wall_end = record.wall_start + record.e2e
        if not self.wall_first or record.wall_start < self.wall_first:
            self.wall_first = record.wall_start
        self.wall_last = max(self.wall_last, wall_end)
        self.request_bytes += record.request_bytes
        self.response_bytes += record.response_bytes
        self.resent += record.resent
        self.images += record.images
        self.image_pixels += record.image_pixels
        self.image_bytes += record.image_bytes
        if record.queue_time is not None:
            self.dists["queue"].add(record.queue_time)
        if not record.ok:
            self.failed += 1
            self.failures[group_reason(record.error)] += 1
            return
        self.completed += 1
        self.input_tokens += record.input_tokens
        self.output_tokens += record.output_tokens
        self.token_sources[record.output_tokens_source] += 1
        self._add_latencies(record)
        self._add_server_side(record)
        delta = prompt_delta(record)
        if delta is None:
            return
        if record.images:
            self.image_prompt_deltas[delta] += 1
            return
        self.prompt_deltas[delta] += 1
        if delta and self.prompt_example is None:
            self.prompt_example = [record.payload_tokens, record.payload_tokens + delta]

    def _add_latencies(self, record: RequestRecord) -> None:
        dists = self.dists
        dists["e2el"].add(record.e2e)
        ttft = record.ttft
        if ttft is None:
            return
        dists["ttft"].add(ttft)
        self.ttft_by_turn.setdefault(record.turn, Distribution()).add(ttft)
        tpot = record.tpot
        if tpot is not None:
            dists["tpot"].add(tpot)
        dists["itl"].add_gaps(record.token_times)

    def _add_server_side(self, record: RequestRecord) -> None:
        """TTFO, reasoning tokens, the server's own timings and its ``full_text`` check."""
        dists = self.dists
        ttfo = record.ttfo
        if ttfo is not None:
            dists["ttfo"].add(ttfo)
        if record.reasoning_tokens_source:
            self.reasoning_tokens += record.reasoning_tokens
            self.reasoning_sources[record.reasoning_tokens_source] += 1
        prefill = record.server_prefill
        if prefill is not None:
            dists["server_prefill"].add(prefill)
            difference = record.ttft_minus_server_prefill
            if difference is not None:
                dists["ttft_minus_server_prefill"].add(difference)
        if record.server_decode_ms:
            dists["server_itl"].extend(record.server_itls())
        if record.full_text is not None:
            self.full_text_checked += 1
            self.full_text_differs += record.full_text != record.text

    def merge(self, other: ClassMetrics) -> None:
        """Fold ``other`` into this one."""
        self.completed += other.completed
        self.failed += other.failed
        self.failures.update(other.failures)
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.token_sources.update(other.token_sources)
        self.retries.update(other.retries)
        self.resent += other.resent
        self.images += other.images
        self.image_pixels += other.image_pixels
        self.image_bytes += other.image_bytes
        self.good += other.good
        self.reasoning_tokens += other.reasoning_tokens
        self.reasoning_sources.update(other.reasoning_sources)
        self.full_text_checked += other.full_text_checked
        self.full_text_differs += other.full_text_differs
        self.prompt_deltas.update(other.prompt_deltas)
        self.image_prompt_deltas.update(other.image_prompt_deltas)
        self.prompt_example = self.prompt_example or other.prompt_example
        self.request_bytes += other.request_bytes
        self.response_bytes += other.response_bytes
        if other.wall_first and (not self.wall_first or other.wall_first < self.wall_first):
            self.wall_first = other.wall_first
        self.wall_last = max(self.wall_last, other.wall_last)
        for name, dist in other.dists.items():
            self.dists.setdefault(name, Distribution()).merge(dist)
        for turn, dist in other.ttft_by_turn.items():
            self.ttft_by_turn.setdefault(turn, Distribution()).merge(dist)

    def to_dict(self) -> dict:
        """Plain types only, for worker -> master messages and JSON."""
        return {
            "completed": self.completed, "failed": self.failed, "failures": dict(self.failures),
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "token_sources": dict(self.token_sources), "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes, "wall_first": self.wall_first, "wall_last": self.wall_last,
            "dists": {k: d.to_dict() for k, d in self.dists.items()},
            "ttft_by_turn": [[t, d.to_dict()] for t, d in self.ttft_by_turn.items()],
            "retries": dict(self.retries), "resent": self.resent, "images": self.images, "good": self.good,
            "image_pixels": self.image_pixels, "image_bytes": self.image_bytes,
            "prompt_deltas": list(self.prompt_deltas.items()),
            "image_prompt_deltas": list(self.image_prompt_deltas.items()),
            "prompt_example": self.prompt_example,
            "reasoning_tokens": self.reasoning_tokens, "reasoning_sources": dict(self.reasoning_sources),
            "full_text_checked": self.full_text_checked, "full_text_differs": self.full_text_differs,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ClassMetrics:
        m = cls()
        for key in ("completed", "failed", "input_tokens", "output_tokens", "request_bytes", "response_bytes",
                    "wall_first", "wall_last", "resent", "prompt_example", "images", "good", "image_pixels",
                    "image_bytes"):
            setattr(m, key, data[key])
        m.failures = Counter(data["failures"])
        m.token_sources = Counter(data["token_sources"])
        m.retries = Counter(data["retries"])
        m.prompt_deltas = Counter({int(d): n for d, n in data["prompt_deltas"]})
        m.image_prompt_deltas = Counter({int(d): n for d, n in data["image_prompt_deltas"]})
        m.dists.update({k: Distribution.from_dict(d) for k, d in data["dists"].items()})
        for key in ("reasoning_tokens", "full_text_checked", "full_text_differs"):
            setattr(m, key, data.get(key, 0))
        m.reasoning_sources = Counter(data.get("reasoning_sources") or {})
        m.ttft_by_turn = {int(t): Distribution.from_dict(d) for t, d in data["ttft_by_turn"]}
        return m


RowSink = Callable[[list], None]
"""Takes one request's row of ``PREFIX_llm_requests.csv`` (:func:`reports.csv.request_row`)."""


class LlmMetrics:
    """Metrics per traffic class; ``overall()`` merges them.

    ``goodput``: each request is judged against these bounds as it is counted (the classes'
    ``good``). ``rows``: each request's CSV row goes there as it is counted or merged; with
    ``keep_rows`` (a worker) the rows are kept in :attr:`request_rows` instead, and shipped
    with :meth:`to_dict`, so a master writes every worker's requests to its one file.
    """

    def __init__(self, goodput: Goodput | None = None, rows: RowSink | None = None,
                 keep_rows: bool = False) -> None:
        self.goodput = goodput
        self.request_rows: list[list] = []
        """Rows kept to ship (``keep_rows``), or received from a worker (:meth:`from_dict`)."""
        self._rows = rows or (self.request_rows.append if keep_rows else None)
        self.judged = goodput is not None
        """Requests were judged against goodput bounds (shipped, so a master can tell)."""
        self.unjudged = 0
        """Requests merged in from metrics that judged no goodput while this one has bounds."""
        self.classes: dict[str, ClassMetrics] = {}
        self.series = TimeSeries()
        """The same requests second by second (for charts, and the summary's ``time_series``)."""
        self.batch = BatchMetrics()
        """The Batch API workload's batches (:mod:`metrics.batch`)."""
        self.steps: dict[int, ClassMetrics] = {}
        """A sweep's steps: all classes of each step together, by step index."""

    def add(self, record: RequestRecord, step: int | None = None) -> None:
        """Count one finished request; ``step``: also in that sweep step's figures."""
        m = self.classes.get(record.traffic_class)
        if m is None:
            m = self.classes[record.traffic_class] = ClassMetrics()
        m.add(record)
        self.series.add(record)
        good = self.goodput is not None and self.goodput.met(record)
        m.good += good
        if step is not None:
            in_step = self.steps.setdefault(step, ClassMetrics())
            in_step.add(record)
            in_step.good += good
        if self._rows is not None:
            self._rows(request_row(record, good if self.goodput is not None else None))

    def add_retry(self, record: RequestRecord) -> None:
        self.classes.setdefault(record.traffic_class, ClassMetrics()).add_retry(record)

    def add_batch(self, result: BatchResult) -> None:
        """Count one finished batch of the Batch API workload."""
        self.batch.add(result)

    def merge(self, other: LlmMetrics) -> None:
        for name, m in other.classes.items():
            self.classes.setdefault(name, ClassMetrics()).merge(m)
        self.series.merge(other.series)
        if self.judged and not other.judged:
            self.unjudged += sum(m.completed + m.failed for m in other.classes.values())
        if self._rows is not None:
            for row in other.request_rows:
                self._rows(row)
        self.batch.merge(other.batch)
        for step, m in other.steps.items():
            self.steps.setdefault(step, ClassMetrics()).merge(m)

    def overall(self) -> ClassMetrics:
        total = ClassMetrics()
        for m in self.classes.values():
            total.merge(m)
        return total

    @property
    def requests(self) -> int:
        """Requests counted (retried attempts and finished batches included, so a worker ships them too)."""
        chat = sum(m.completed + m.failed + sum(m.retries.values()) for m in self.classes.values())
        return chat + self.batch.batches

    def to_dict(self) -> dict:
        return {"classes": {name: m.to_dict() for name, m in self.classes.items()},
                "series": self.series.to_dict(), "batch": self.batch.to_dict(),
                "judged": self.judged, "rows": self.request_rows,
                "steps": [[step, m.to_dict()] for step, m in self.steps.items()]}

    @classmethod
    def from_dict(cls, data: dict) -> LlmMetrics:
        metrics = cls()
        metrics.classes = {name: ClassMetrics.from_dict(d) for name, d in data["classes"].items()}
        metrics.series = TimeSeries.from_dict(data["series"])
        metrics.batch = BatchMetrics.from_dict(data["batch"])
        metrics.judged = bool(data.get("judged"))
        metrics.request_rows = data.get("rows") or []
        metrics.steps = {int(step): ClassMetrics.from_dict(m) for step, m in data.get("steps", [])}
        return metrics
