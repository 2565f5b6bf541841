"""One batch through its lifecycle: upload, create, poll with backoff, cancel, download, check.

:class:`BatchRun` is a state machine over an injected HTTP callable, clock and pacing, so tests
drive it with a scripted server and a fake clock. Each HTTP call it makes goes to the
``report`` seam as a :class:`Call` (step, method, path template, time, bytes, status, error);
the run's outcome is its :class:`~batch.result.BatchResult`, readable at any moment (a stop that
interrupts the run reads the part done).

Polling starts ``interval`` seconds after the create call and grows ``growth`` times after each
poll that saw no change, up to ``max_interval``; a change of status brings it back to
``interval``, so the times of the next states stay as sharp as the first. ``max_errors`` failed
polls in a row make the client give up (it then sends a cancel, so nothing is left running).

A batch picked for cancelling gets ``POST /v1/batches/{id}/cancel`` at its first poll that finds it
not ended (one that ends before its first poll simply ends as it did). When
the run is stopping (``pacing.wait`` returns False) a batch still running is cancelled as
cleanup, and polled until it ends (its files then checked) or ``stop_wait`` seconds pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from batch.check import check_files
from batch.jsonl import BatchInput
from batch.multipart import upload_body
from batch.result import STATES, TERMINAL, BatchResult

STEPS = {
    "upload": ("POST", "/v1/files"),
    "create": ("POST", "/v1/batches"),
    "poll": ("GET", "/v1/batches/{id}"),
    "cancel": ("POST", "/v1/batches/{id}/cancel"),
    "download": ("GET", "/v1/files/{id}/content"),
}
"""Step -> (method, path template): the names of the calls in reports."""
REASON_CHARS = 100


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: its status (0: none came) and its body."""

    status: int
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


class Http(Protocol):
    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> Reply:
        """Send one request and read its whole answer; raises on a transport failure."""


class Pacing(Protocol):
    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False (at once) when the run is stopping."""

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, stopping or not."""


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP call of a batch's lifecycle, as the reporting seam receives it."""

    step: str
    """A key of :data:`STEPS`."""
    method: str
    name: str
    """The path template (``/v1/batches/{id}``): one report row per step, not per batch."""
    seconds: float
    request_bytes: int
    response_bytes: int
    status: int
    error: str | None
    """None when the call did what it was for; else a short reason (``HTTP 500: ...``)."""


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How often to poll a batch, and when to give up."""

    interval: float = 5.0
    max_interval: float = 60.0
    growth: float = 1.5
    max_errors: int = 5
    """Failed polls in a row before the client gives up on the batch."""
    stop_wait: float = 30.0
    """Seconds a batch cancelled by the test's stop is polled for, to see it end."""

    def after(self, wait: float, changed: bool) -> float:
        """The wait before the next poll, after one that waited ``wait`` and saw a change or not."""
        return self.interval if changed else min(wait * self.growth, self.max_interval)


class GiveUp(Exception):  # noqa: N818 - the client's decision, not a bug
    """A call failed in a way the batch cannot get past; ``reason`` says which and how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BatchRun:
    """One batch: :meth:`execute` runs it to its end and returns its result."""

    def __init__(
        self,
        http: Http,
        report: Callable[[Call], None],
        batch: BatchInput,
        pacing: Pacing,
        *,
        window: str = "24h",
        cancel: bool = False,
        policy: PollPolicy = PollPolicy(),
        clock: Callable[[], float] = perf_counter,
        wall: Callable[[], float] = time.time,
        filename: str = "batch.jsonl",
    ) -> None:
        self._http, self._report, self._input, self._pacing = http, report, batch, pacing
        self._window, self._policy, self._clock, self._wall = window, policy, clock, wall
        self._filename = filename
        self._created = 0.0
        self._batch: dict = {}
        """The server's latest batch object."""
        self.result = BatchResult(batch.lines, cancel_planned=cancel)

    def execute(self) -> BatchResult:
        r = self.result
        try:
            r.input_file_id = self._upload()
            self._create(r.input_file_id)
            if not self._follow():
                return self.stopped("test stopped: the batch was cancelled")
            self._collect()
        except GiveUp as exc:
            r.error = exc.reason
            if r.batch_id and r.status not in TERMINAL and r.cancel_sent is None:
                self._call("cancel", self._path("cancel"), ok=(200, 409))
            return self._end("error")
        return self._end(r.status)

    def stopped(self, reason: str, wait: bool = True) -> BatchResult:
        """The test stopped mid-batch: cancel a batch still running (cleanup) and, with ``wait``,
        poll it until it ends and check its files, so every line sent is accounted for. The
        batch ends as ``stopped``, unless the server had ended it otherwise before the cancel
        reached it (completed, expired, failed): then it counts as the server ended it."""
        r = self.result
        if r.outcome:
            return r
        if r.batch_id and r.status not in TERMINAL:
            try:
                if r.cancel_sent is None:
                    self._cancel()
                if wait:
                    self._await_end()
                    if r.status in TERMINAL:
                        self._collect()
            except GiveUp:
                pass
        if r.status in TERMINAL and r.status != "cancelled":
            return self._end(r.status)
        r.error = reason
        return self._end("stopped")

    # ---- steps ---------------------------------------------------------------------------------
    def _upload(self) -> str:
        body, content_type = upload_body(self._input.data, self._filename)
        reply = self._checked("upload", "/v1/files", body, content_type)
        file_id = _field(reply, "id")
        if file_id is None:
            raise GiveUp("upload: the answer has no file id")
        return file_id

    def _create(self, file_id: str) -> None:
        body = orjson.dumps({"input_file_id": file_id, "endpoint": self._input.url,
                             "completion_window": self._window})
        reply = self._checked("create", "/v1/batches", body, "application/json")
        self._created, self.result.wall_created = self._clock(), self._wall()
        batch = reply.json()
        if _field(reply, "id") is None:
            raise GiveUp("create: the answer is not a batch object")
        self.result.batch_id = batch["id"]
        self._saw(batch)

    def _follow(self) -> bool:
        """Poll until the batch ends (True), or the run is stopping (False)."""
        r, policy = self.result, self._policy
        wait, errors = policy.interval, 0
        while r.status not in TERMINAL:
            if not self._pacing.wait(wait):
                return False
            batch, error = self._poll()
            if batch is None:
                errors += 1
                if errors >= policy.max_errors:
                    raise GiveUp(f"poll: {error} ({errors} in a row)")
                wait = policy.after(wait, False)
                continue
            errors = 0
            changed = self._saw(batch)
            if r.cancel_planned and r.cancel_sent is None and r.status not in TERMINAL:
                self._cancel()
            wait = policy.after(wait, changed)
        return True

    def _poll(self) -> tuple[dict | None, str | None]:
        self.result.polls += 1
        reply, error = self._call("poll", self._path("poll"))
        if error is not None:
            return None, error
        batch = reply.json()
        if not isinstance(batch, dict) or batch.get("status") not in STATES:
            status = batch.get("status") if isinstance(batch, dict) else None
            raise GiveUp(f"poll: status {status!r} is none of the Batch API's")
        return batch, None

    def _saw(self, batch: dict) -> bool:
        """Note the batch object a call returned; True when its status changed."""
        r = self.result
        status = batch.get("status")
        if status not in STATES:
            raise GiveUp(f"status {status!r} is none of the Batch API's")
        changed = status != r.status
        r.status = status
        r.seen.setdefault(status, self._clock() - self._created)
        if isinstance(batch.get("request_counts"), dict):
            r.request_counts = batch["request_counts"]
        self._batch = batch
        return changed

    def _cancel(self) -> None:
        self.result.cancel_sent = self._clock() - self._created
        reply, error = self._call("cancel", self._path("cancel"), ok=(200, 409))
        if error is None and reply.status == 200 and isinstance(reply.json(), dict):
            self._saw(reply.json())

    def _await_end(self) -> None:
        deadline = self._clock() + self._policy.stop_wait
        while self.result.status not in TERMINAL and self._clock() < deadline:
            self._pacing.sleep(min(self._policy.interval, 0.5))
            batch, _ = self._poll()
            if batch is not None:
                self._saw(batch)

    def _collect(self) -> None:
        """Fetch and check the files of a batch that ended."""
        r, batch = self.result, self._batch
        if r.status == "failed":
            errors = (batch.get("errors") or {}).get("data") or []
            r.server_errors = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
            return
        files: dict[str, bytes] = {}
        lost: list[tuple[str, str]] = []
        for key in ("output_file_id", "error_file_id"):
            file_id = batch.get(key)
            if not file_id:
                continue
            reply, error = self._call("download", f"/v1/files/{quote(str(file_id), safe='')}/content")
            if error is None:
                files[key] = reply.body
            else:
                lost.append((key, error))
        r.check = check_files(self._input.custom_ids, r.status, files.get("output_file_id", b""),
                              files.get("error_file_id", b""), r.request_counts, self._input.url)
        for key, error in lost:
            r.check.problem(f"{key.removesuffix('_file_id')} file not downloaded", error)

    def _end(self, outcome: str) -> BatchResult:
        self.result.outcome = outcome
        self.result.wall_end = self._wall()
        return self.result

    # ---- HTTP ----------------------------------------------------------------------------------
    def _path(self, step: str) -> str:
        return STEPS[step][1].replace("{id}", quote(self.result.batch_id, safe=""))

    def _checked(self, step: str, path: str, body: bytes, content_type: str) -> Reply:
        reply, error = self._call(step, path, body, content_type)
        if error is not None:
            raise GiveUp(f"{step}: {error}")
        return reply

    def _call(self, step: str, path: str, body: bytes | None = None, content_type: str | None = None,
              ok: tuple[int, ...] = (200,)) -> tuple[Reply, str | None]:
        method, name = STEPS[step]
        t0 = self._clock()
        try:
            reply = self._http.request(method, path, body, content_type)
        except Exception as exc:  # noqa: BLE001 - a transport failure is a reason, reported like a status
            reply, error = Reply(0), _short(f"{type(exc).__name__}: {exc}")
        else:
            error = None if reply.status in ok else _http_reason(reply)
        self._report(Call(step, method, name, self._clock() - t0, len(body or b""), len(reply.body),
                          reply.status, error))
        return reply, error


def _field(reply: Reply, key: str) -> str | None:
    document = reply.json()
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, str) and value else None


def _http_reason(reply: Reply) -> str:
    document = reply.json()
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict) and error.get("message"):
        message = str(error["message"])
    else:
        message = reply.body[:REASON_CHARS].decode("utf-8", "replace").strip()
    return _short(f"HTTP {reply.status}: {message}" if message else f"HTTP {reply.status}")


def _short(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"

