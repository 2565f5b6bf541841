"""The Batch API in memory: input files, batches that move through their states on a timer, result files.

Routes: ``POST /v1/files`` (multipart: ``purpose=batch`` and the ``file``), ``GET /v1/files/{id}``,
``GET /v1/files/{id}/content`` (result files only, as the documented API), ``POST /v1/batches``,
``GET /v1/batches`` (newest first; ``after``, ``limit`` 1-100, ``status=a,b``),
``GET /v1/batches/{id}`` and ``POST /v1/batches/{id}/cancel``.

A batch is ``validating`` for ``--batch-validate-ms``: every line must be a JSON object with a
unique ``custom_id``, ``method`` POST, the batch's ``url`` and a ``body``, within 50,000 lines,
6 MB a line and 500 MB a file; otherwise it is ``failed`` with its ``errors`` listed by line.
Then ``in_progress``: the lines one after another, ``--batch-line-ms`` each, answered as the
endpoint answers a non-streamed request; ``finalizing`` for ``--batch-finalize-ms``; ``completed``.
200 answers go to the output file, other answers to the error file.

A cancel makes a running batch ``cancelling``; after the line in progress and ``--batch-cancel-ms``
it is ``cancelled``. A batch whose window runs out (``--batch-window-s``, else the window asked
for), or that ``--batch-expire-rate`` picks, once half its lines are done, is ``expired``. The
lines a cancelled or expired batch never ran are in its error file with the code
``batch_cancelled`` or ``batch_expired``. ``request_counts``: ``total`` the lines, ``completed``
those answered 200, ``failed`` those answered otherwise; lines never run are in neither.
Timestamps are whole seconds, as the API's. The shares pick exactly that share of batches (or
lines), spread evenly: 0.25 picks the 4th, 8th, ...
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from emulator.batch_config import BatchConfig
from emulator.chunks import error_body

Answer = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]
"""(path, body) -> (status, answer body): how the endpoint answers one non-streamed request."""
ENDPOINTS = ("/v1/chat/completions", "/v1/completions")
WINDOW = re.compile(r"([1-9]\d*)([hd])")
MB = 1024 * 1024
MAX_LINES, MAX_LINE_BYTES, MAX_FILE_BYTES = 50_000, 6 * MB, 500 * MB
MAX_ERRORS = 100
"""Validation errors listed per batch (the first ones)."""
RUNNING = ("validating", "in_progress", "finalizing")
TIMESTAMPS = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")


def _new_id(prefix: str) -> str:
    return prefix + os.urandom(8).hex()


class Share:
    """Picks exactly ``rate`` of its calls, spread evenly (0.25: the 4th, 8th, ...)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.calls = 0

    def pick(self) -> bool:
        self.calls += 1
        return math.floor(self.calls * self.rate + 1e-9) > math.floor((self.calls - 1) * self.rate + 1e-9)


@dataclass(slots=True)
class StoredFile:
    id: str
    purpose: str
    filename: str
    data: bytes
    created_at: int

    def to_dict(self) -> dict:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed",
                "status_details": None}


@dataclass(slots=True)
class Job:
    """One batch and where it is."""

    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    window_s: float
    created_at: float
    metadata: dict | None = None
    status: str = "validating"
    times: dict[str, int] = field(default_factory=dict)
    errors: list[dict] | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    cancel_requested: bool = False

    def enter(self, status: str, now: float) -> None:
        self.status = status
        self.times[f"{status}_at"] = int(now)

    def to_dict(self) -> dict:
        created = int(self.created_at)
        document = {
            "id": self.id, "object": "batch", "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id, "completion_window": self.completion_window,
            "status": self.status, "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "created_at": created, "expires_at": int(self.created_at + self.window_s),
        }
        for state in TIMESTAMPS:
            document[f"{state}_at"] = self.times.get(f"{state}_at")
        document["request_counts"] = {"total": self.total, "completed": self.completed, "failed": self.failed}
        document["metadata"] = self.metadata or {}
        return document


def window_seconds(window: object) -> float | None:
    """Seconds of a ``completion_window`` (``24h``, ``7d``), or None when it is not one."""
    match = WINDOW.fullmatch(window) if isinstance(window, str) else None
    if match is None:
        return None
    return int(match.group(1)) * (3600 if match.group(2) == "h" else 86400)


def validate_lines(data: bytes, endpoint: str) -> tuple[list[dict], list[dict]]:
    """The input's lines, and what is wrong with them (``{code, message, param, line}`` each)."""
    errors: list[dict] = []

    def error(code: str, message: str, line: int | None = None) -> None:
        if len(errors) < MAX_ERRORS:
            errors.append({"code": code, "message": message, "param": None, "line": line})

    if len(data) > MAX_FILE_BYTES:
        error("file_too_large", f"the input file is over {MAX_FILE_BYTES // MB} MB")
    lines: list[dict] = []
    seen: set[str] = set()
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        line = _checked_line(raw, endpoint, seen, lambda code, message, n=number: error(code, message, n))
        if line is not None:
            seen.add(line["custom_id"])
            lines.append(line)
    if len(lines) > MAX_LINES:
        error("too_many_requests", f"the input file has {len(lines)} lines; at most {MAX_LINES} are taken")
    if not lines and not errors:
        error("empty_file", "the input file has no lines")
    return lines, errors


def _checked_line(
    raw: bytes, endpoint: str, seen: set[str], error: Callable[[str, str], None]
) -> dict | None:
    if len(raw) > MAX_LINE_BYTES:
        error("line_too_large", f"the line is over {MAX_LINE_BYTES // MB} MB")
        return None
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        line = None
    if not isinstance(line, dict):
        error("invalid_json_line", "the line is not a JSON object")
        return None
    custom_id = line.get("custom_id")
    problems = (
        (not isinstance(custom_id, str) or not custom_id, "missing_custom_id", "custom_id must be a string"),
        (custom_id in seen, "duplicate_custom_id", f"custom_id {custom_id!r} is used twice"),
        (line.get("method") != "POST", "invalid_method", "method must be POST"),
        (line.get("url") != endpoint, "mismatched_endpoint", f"url must be the batch's endpoint {endpoint}"),
        (not isinstance(line.get("body"), dict), "invalid_body", "body must be a JSON object"),
    )
    for wrong, code, message in problems:
        if wrong:
            error(code, message)
            return None
    return line


def _json(status: int, document: dict) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document), content_type="application/json")


def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    body = error_body(status, kind, message)
    return web.Response(status=status, body=body, content_type="application/json")


class BatchService:
    """The files and batches of one emulator; its methods are route handlers."""

    def __init__(self, config: BatchConfig, answer: Answer, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._answer = answer
        self._clock = clock
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, Job] = {}
        """In creation order."""
        self._tasks: set[asyncio.Task] = set()
        self._fail, self._expire = Share(config.fail_rate), Share(config.expire_rate)
        self._line_error = Share(config.line_error_rate)

    def register(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files/{id}", self.file_info)
        app.router.add_get("/v1/files/{id}/content", self.file_content)
        app.router.add_post("/v1/batches", self.create)
        app.router.add_get("/v1/batches", self.list)
        app.router.add_get("/v1/batches/{id}", self.retrieve)
        app.router.add_post("/v1/batches/{id}/cancel", self.cancel)
        app.on_cleanup.append(self.close)

    # ---- files ---------------------------------------------------------------------------------
    async def upload(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            return _error(400, "send the file as multipart/form-data with purpose=batch")
        purpose, filename, data = None, "input.jsonl", None
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.name == "purpose":
                purpose = await part.text()
            elif part.name == "file":
                filename, data = part.filename or filename, bytes(await part.read())
        if purpose != "batch":
            return _error(400, f"purpose must be 'batch', got {purpose!r}")
        if data is None:
            return _error(400, "no 'file' part in the upload")
        if len(data) > MAX_FILE_BYTES:
            return _error(413, f"the file is over {MAX_FILE_BYTES // MB} MB")
        stored = self._store(data, "batch", filename, "file-batch-")
        return _json(200, stored.to_dict())

    async def file_info(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["id"])
        return _json(200, stored.to_dict()) if stored else _error(404, "No such File object")

    async def file_content(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["id"])
        if stored is None:
            return _error(404, "No such File object")
        if stored.purpose != "batch_output":
            return _error(400, "only batch result files (file-batch_output-...) can be downloaded")
        return web.Response(body=stored.data, content_type="application/octet-stream")

    def _store(self, data: bytes, purpose: str, filename: str, prefix: str) -> StoredFile:
        stored = StoredFile(_new_id(prefix), purpose, filename, data, int(self._clock()))
        self.files[stored.id] = stored
        return stored

    # ---- batches -------------------------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        stored = self.files.get(body.get("input_file_id"))
        window = window_seconds(body.get("completion_window"))
        problem = (
            "input_file_id names no uploaded batch file" if stored is None or stored.purpose != "batch" else
            f"endpoint must be one of {', '.join(ENDPOINTS)}" if body.get("endpoint") not in ENDPOINTS else
            "completion_window must be a whole number of hours or days (24h, 7d)" if window is None else
            "metadata must be an object" if not isinstance(body.get("metadata") or {}, dict) else None
        )
        if problem:
            return _error(400, problem)
        now = self._clock()
        job = Job(_new_id("batch_"), stored.id, body["endpoint"], body["completion_window"],
                  self.config.window_s or window, now, body.get("metadata"))
        self.jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _json(200, job.to_dict())

    async def retrieve(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        return _json(200, job.to_dict()) if job else _error(404, "No such Batch object")

    async def list(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return _error(400, "limit must be a whole number in [1, 100]")
        wanted = set(query["status"].split(",")) if query.get("status") else None
        jobs = [j for j in reversed(self.jobs.values()) if wanted is None or j.status in wanted]
        start = 0
        if query.get("after"):
            ids = [j.id for j in jobs]
            if query["after"] not in ids:
                return _error(400, "after names no batch of this list")
            start = ids.index(query["after"]) + 1
        page = jobs[start: start + limit]
        return _json(200, {"object": "list", "data": [j.to_dict() for j in page],
                           "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
                           "has_more": start + limit < len(jobs)})

    async def cancel(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return _error(404, "No such Batch object")
        if job.status in RUNNING:
            job.cancel_requested = True
            job.enter("cancelling", self._clock())
        elif job.status != "cancelling":
            return _error(409, f"cannot cancel a batch that is {job.status}")
        return _json(200, job.to_dict())

    async def close(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()

    # ---- a batch's run -------------------------------------------------------------------------
    async def _run(self, job: Job) -> None:
        c = self.config
        await asyncio.sleep(c.validate_ms / 1000)
        lines, errors = validate_lines(self.files[job.input_file_id].data, job.endpoint)
        failing = self._fail.pick()
        if job.cancel_requested:
            return await self._end(job, "cancelled", [], [], lines, c.cancel_ms)
        if errors or failing:
            job.errors = errors or [{"code": "emulated_failure", "message": "failed by --batch-fail-rate",
                                     "param": None, "line": None}]
            return job.enter("failed", self._clock())
        job.total = len(lines)
        job.enter("in_progress", self._clock())
        half = len(lines) // 2 if self._expire.pick() else None
        deadline = job.created_at + job.window_s
        answered: list[dict] = []
        failed: list[dict] = []
        ran = 0
        for index, line in enumerate(lines):
            if job.cancel_requested or index == half or self._clock() >= deadline:
                break
            await asyncio.sleep(c.line_ms / 1000)
            ok, result = await self._answer_line(job.endpoint, line)
            (answered if ok else failed).append(result)
            job.completed, job.failed, ran = len(answered), len(failed), index + 1
        rest = lines[ran:]
        if job.cancel_requested:
            return await self._end(job, "cancelled", answered, failed, rest, c.cancel_ms)
        if rest:
            return await self._end(job, "expired", answered, failed, rest)
        job.enter("finalizing", self._clock())
        await asyncio.sleep(c.finalize_ms / 1000)
        await self._end(job, "cancelled" if job.cancel_requested else "completed", answered, failed, [])

    async def _answer_line(self, endpoint: str, line: dict) -> tuple[bool, dict]:
        if self._line_error.pick():
            status, raw = 500, error_body(500, "server_error", "emulated failure (--batch-line-error-rate)")
        else:
            status, raw = await self._answer(endpoint, orjson.dumps(line["body"]))
        body = orjson.loads(raw)
        request_id = body.get("id") if status == 200 else _new_id("req-")
        response = {"status_code": status, "request_id": request_id, "body": body}
        result = {"id": _new_id("batch_req_"), "custom_id": line["custom_id"], "response": response}
        return status == 200, {**result, "error": None}

    async def _end(self, job: Job, status: str, answered: list[dict], failed: list[dict], not_run: list[dict],
                   delay_ms: float = 0.0) -> None:
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        code = "batch_cancelled" if status == "cancelled" else "batch_expired"
        message = ("the batch was cancelled before this request ran" if status == "cancelled" else
                   "the request could not run before the completion window ended")
        errors = failed + [{"id": _new_id("batch_req_"), "custom_id": line["custom_id"], "response": None,
                            "error": {"code": code, "message": message}} for line in not_run]
        if answered:
            job.output_file_id = self._store(_jsonl(answered), "batch_output", "output.jsonl",
                                             "file-batch_output-").id
        if errors:
            job.error_file_id = self._store(_jsonl(errors), "batch_output", "errors.jsonl",
                                            "file-batch_output-").id
        job.enter(status, self._clock())


def _jsonl(lines: list[dict]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)
