"""Check a batch's output and error files against what was sent, line by line.

An answer line is ``{"id", "custom_id", "response": {"status_code", "request_id", "body"} | null,
"error": {"code", "message"} | null}``. A line is answered when its ``response`` has status 200
and a body of the endpoint's shape (``chat.completion`` with ``choices[].message`` and ``usage``;
``text_completion`` with ``choices[].text``); it failed when it carries an ``error`` or another
status. ``batch_expired`` and ``batch_cancelled`` errors are lines the batch never ran.

Every ``custom_id`` sent must be answered exactly once across both files. In a completed batch
a ``custom_id`` with no line is a problem; an expired or cancelled batch may leave lines out (the
ones it never ran), and they are counted as expired or cancelled. The server's
``request_counts`` of a completed batch must agree with the files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

EXPIRED, CANCELLED = "batch_expired", "batch_cancelled"
NOT_RUN = {"expired": EXPIRED, "cancelled": CANCELLED}
"""Batch status -> the error code of its lines that never ran."""
BODY_OBJECTS = {"/v1/chat/completions": "chat.completion", "/v1/completions": "text_completion"}


@dataclass(slots=True)
class CheckReport:
    """What the files said about every line sent."""

    ok: int = 0
    """Lines answered with status 200 and a body of the documented shape."""
    failed: int = 0
    """Lines answered with an error (other than expired or cancelled)."""
    expired: int = 0
    cancelled: int = 0
    missing: int = 0
    """Lines of a completed batch that no file answered."""
    input_tokens: int = 0
    output_tokens: int = 0
    """``usage`` of the answered lines, summed."""
    errors: Counter[str] = field(default_factory=Counter)
    """Line error code (``server_error``, ``HTTP 400``, ...) -> lines."""
    problems: Counter[str] = field(default_factory=Counter)
    """What does not check out -> how often (each key one line, no per-line detail)."""
    example: str = ""
    """The first problem, with the line's custom_id."""

    @property
    def passed(self) -> bool:
        return not self.problems

    def problem(self, key: str, detail: str) -> None:
        self.problems[key] += 1
        if not self.example:
            self.example = f"{key} ({detail})"


def check_files(
    sent: Iterable[str], status: str, output: bytes = b"", errors: bytes = b"",
    request_counts: dict | None = None, url: str = "/v1/chat/completions",
) -> CheckReport:
    """Check the files a batch that ended in ``status`` left, against the ``custom_id``s ``sent``."""
    report = CheckReport()
    expected = set(sent)
    answered: set[str] = set()
    for where, number, line in _lines(output, errors):
        custom_id = _line(report, line, f"{where} line {number}", url)
        if custom_id is None:
            continue
        if custom_id not in expected:
            report.problem("answer for a custom_id not sent", custom_id)
        elif custom_id in answered:
            report.problem("custom_id answered twice", custom_id)
        answered.add(custom_id)
    unanswered = len(expected - answered)
    if status in NOT_RUN:
        setattr(report, status, getattr(report, status) + unanswered)
    elif status == "completed" and unanswered:
        report.missing = unanswered
        report.problem("custom_id not answered", next(iter(sorted(expected - answered))))
    if status == "completed":
        _check_counts(report, request_counts, len(expected))
    return report


def _lines(output: bytes, errors: bytes) -> Iterator[tuple[str, int, bytes]]:
    for where, data in (("output", output), ("error", errors)):
        for number, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                yield where, number, line


def _line(report: CheckReport, raw: bytes, where: str, url: str) -> str | None:
    """Count one answer line; its custom_id, or None when the line is unusable."""
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        report.problem("line is not JSON", where)
        return None
    custom_id = line.get("custom_id") if isinstance(line, dict) else None
    if not isinstance(custom_id, str) or not isinstance(line.get("id"), str):
        report.problem("line lacks a string id or custom_id", where)
        return None
    shape = _outcome(report, line, url)
    if shape is not None:
        report.problem(f"line not in the documented shape: {shape}", custom_id)
    return custom_id


def _outcome(report: CheckReport, line: dict, url: str) -> str | None:
    """Count the line as answered, failed, expired or cancelled; what is wrong with its shape, if anything."""
    response, error = line.get("response"), line.get("error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            return "error without a string code"
        code = error["code"]
        if code == EXPIRED:
            report.expired += 1
        elif code == CANCELLED:
            report.cancelled += 1
        else:
            report.failed += 1
            report.errors[code] += 1
        return None
    if not isinstance(response, dict):
        return "neither a response nor an error"
    status = response.get("status_code")
    if not isinstance(status, int) or not isinstance(response.get("request_id"), str | None):
        return "response without an integer status_code"
    if status != 200:
        report.failed += 1
        report.errors[f"HTTP {status}"] += 1
        return None
    body = response.get("body")
    wrong = _body_shape(body, url)
    if wrong is None:
        report.ok += 1
        report.input_tokens += body["usage"].get("prompt_tokens", 0)
        report.output_tokens += body["usage"].get("completion_tokens", 0)
    return wrong


def _body_shape(body: Any, url: str) -> str | None:
    """What is wrong with a 200 body, or None."""
    if not isinstance(body, dict):
        return "status 200 without a body"
    expected = BODY_OBJECTS.get(url)
    if expected is not None and body.get("object") != expected:
        return f"body object {body.get('object')!r}, expected {expected!r}"
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return "body without choices"
    key = "text" if url == "/v1/completions" else "message"
    if not all(isinstance(c, dict) and key in c for c in choices):
        return f"a choice without {key!r}"
    usage = body.get("usage")
    if not isinstance(usage, dict) or not all(isinstance(usage.get(k, 0), int) for k in
                                              ("prompt_tokens", "completion_tokens")):
        return "body without integer usage"
    return None


def _check_counts(report: CheckReport, counts: dict | None, sent: int) -> None:
    if not counts or not counts.get("total"):
        return
    files = {"total": sent, "completed": report.ok, "failed": report.failed}
    said = {key: counts.get(key) for key in files}
    if said != files:
        report.problem("request_counts differ from the files", f"server {said}, files {files}")
