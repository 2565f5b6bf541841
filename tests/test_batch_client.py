"""The batch client's state machine against a scripted server, a fake clock and no network."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pytest

from batch.client import BatchRun, Call, PollPolicy, Reply
from batch.jsonl import build_input
from batch.options import EvenShare

URL = "/v1/chat/completions"


def answer(custom_id: str) -> dict:
    message = {"role": "assistant", "content": "hi"}
    body = {"id": f"chatcmpl-{custom_id}", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    return {"id": f"req-{custom_id}", "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": f"req-{custom_id}", "body": body}, "error": None}


def not_run(custom_id: str, code: str) -> dict:
    return {"id": f"req-{custom_id}", "custom_id": custom_id, "response": None,
            "error": {"code": code, "message": "not run"}}


def jsonl(lines: list[dict]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


@dataclass
class Clock:
    now: float = 100.0
    stop_at: float | None = None
    """The run is stopping from this time on (pacing.wait returns False)."""

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        if self.stop_at is not None and self.now + seconds >= self.stop_at:
            self.now = max(self.now, self.stop_at)
            return False
        self.now += seconds
        return True

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Server:
    """Answers each call from a script: the statuses polls return, in order (the last repeats)."""

    clock: Clock
    statuses: list[str]
    output: bytes = b""
    errors: bytes = b""
    fail: dict[str, list[int]] = field(default_factory=dict)
    """Step path prefix -> statuses to answer first (e.g. {"GET /v1/batches/": [500, 500]})."""
    cancelled_to: list[str] = field(default_factory=lambda: ["cancelling", "cancelled"])
    counts: dict | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    upload: bytes = b""
    cancels: int = 0

    def batch(self, status: str) -> bytes:
        done = status in ("completed", "expired", "cancelled")
        invalid = {"code": "invalid_json_line", "message": "line 2", "line": 2}
        return orjson.dumps({
            "id": "batch_1", "object": "batch", "status": status, "endpoint": URL, "input_file_id": "file-1",
            "output_file_id": "file-out" if done and self.output else None,
            "error_file_id": "file-err" if done and self.errors else None,
            "request_counts": self.counts or {"total": 0, "completed": 0, "failed": 0},
            "errors": {"object": "list", "data": [invalid]} if status == "failed" else None,
        })

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> Reply:
        self.calls.append((method, path))
        self.clock.now += 0.01
        for prefix, script in self.fail.items():
            if f"{method} {path}".startswith(prefix) and script:
                return Reply(script.pop(0), b'{"error": {"message": "scripted"}}')
        if path == "/v1/files":
            self.upload = body or b""
            assert content_type.startswith("multipart/form-data; boundary=")
            return Reply(200, b'{"id": "file-1", "object": "file", "purpose": "batch"}')
        if path == "/v1/batches":
            asked = {"input_file_id": "file-1", "endpoint": URL, "completion_window": "24h"}
            assert orjson.loads(body) == asked
            return Reply(200, self.batch("validating"))
        if path.endswith("/cancel"):
            self.cancels += 1
            self.statuses = list(self.cancelled_to)
            return Reply(200, self.batch("cancelling"))
        if path.startswith("/v1/batches/"):
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return Reply(200, self.batch(status))
        if path == "/v1/files/file-out/content":
            return Reply(200, self.output)
        if path == "/v1/files/file-err/content":
            return Reply(200, self.errors)
        return Reply(404, b'{"error": {"message": "no such route"}}')


def run(server: Server, ids=("a", "b", "c"), cancel=False, policy=PollPolicy(1.0, 4.0)) -> tuple:
    calls: list[Call] = []
    batch = build_input([(i, {"model": "m", "messages": [{"role": "user", "content": i}]}) for i in ids], URL)
    runner = BatchRun(server, calls.append, batch, server.clock, cancel=cancel, policy=policy,
                      clock=server.clock, wall=server.clock)
    return runner.execute(), calls, runner


def test_a_batch_goes_through_every_state_and_its_output_checks_out():
    clock = Clock()
    server = Server(clock, ["validating", "in_progress", "in_progress", "finalizing", "completed"],
                    output=jsonl([answer(i) for i in "cba"]),
                    counts={"total": 3, "completed": 3, "failed": 0})
    result, calls, _ = run(server)
    assert result.outcome == result.status == "completed"
    assert list(result.seen) == ["validating", "in_progress", "finalizing", "completed"]
    assert result.check.passed and result.check.ok == 3 and result.check.output_tokens == 6
    assert result.turnaround == pytest.approx(result.seen["completed"]) and result.lines_per_s > 0
    assert [c.step for c in calls] == ["upload", "create", "poll", "poll", "poll", "poll", "poll", "download"]
    assert {c.name for c in calls if c.step == "poll"} == {"/v1/batches/{id}"}
    assert all(c.error is None for c in calls)
    assert b'name="purpose"\r\n\r\nbatch\r\n' in server.upload and b'"custom_id":"a"' in server.upload


def test_polls_back_off_while_nothing_changes_and_come_back_on_a_change():
    clock = Clock()
    server = Server(clock, ["validating"] * 4 + ["in_progress", "completed"], output=jsonl([answer("a")]))
    times = []
    original = clock.wait

    def wait(seconds: float) -> bool:
        times.append(seconds)
        return original(seconds)

    clock.wait = wait
    result, _, _ = run(server, ids=("a",), policy=PollPolicy(1.0, 3.0, growth=2.0))
    assert result.outcome == "completed"
    # validating at create: no change for 4 polls (1, 2, 3 capped, 3), in_progress is a change, back to 1
    assert times == [1.0, 2.0, 3.0, 3.0, 3.0, 1.0]


def test_a_batch_picked_for_cancelling_is_cancelled_at_its_first_poll_and_its_files_counted():
    clock = Clock()
    errors = jsonl([not_run("b", "batch_cancelled"), not_run("c", "batch_cancelled")])
    server = Server(clock, ["in_progress"], output=jsonl([answer("a")]), errors=errors)
    result, calls, _ = run(server, cancel=True)
    assert result.outcome == "cancelled" and server.cancels == 1
    assert result.cancel_sent is not None and "cancelling" in result.seen and "cancelled" in result.seen
    assert result.turnaround is None
    check = result.check
    assert (check.ok, check.cancelled, check.missing, check.passed) == (1, 2, 0, True)
    assert [c.step for c in calls].count("download") == 2


def test_an_expired_batch_may_leave_its_unrun_lines_out_of_the_files():
    clock = Clock()
    server = Server(clock, ["in_progress", "expired"], output=jsonl([answer("a")]))
    result, _, _ = run(server)
    assert result.outcome == "expired"
    assert (result.check.ok, result.check.expired, result.check.passed) == (1, 2, True)


def test_a_failed_batch_keeps_the_servers_validation_errors_and_downloads_nothing():
    clock = Clock()
    result, calls, _ = run(Server(clock, ["failed"]))
    assert result.outcome == "failed" and result.check is None
    assert result.server_errors == ["invalid_json_line: line 2"]
    assert "download" not in [c.step for c in calls]


def test_a_failed_upload_gives_up_before_any_batch_exists():
    clock = Clock()
    server = Server(clock, ["completed"], fail={"POST /v1/files": [413]})
    result, calls, _ = run(server)
    assert result.outcome == "error" and result.error == "upload: HTTP 413: scripted"
    assert [c.step for c in calls] == ["upload"] and calls[0].error == "HTTP 413: scripted"


def test_failed_polls_are_reported_and_tolerated_until_too_many_in_a_row():
    clock = Clock()
    server = Server(clock, ["in_progress", "completed"], output=jsonl([answer(i) for i in "abc"]),
                    fail={"GET /v1/batches/": [503, 503]})
    result, calls, _ = run(server)
    assert result.outcome == "completed"
    assert [c.error for c in calls if c.step == "poll"][:2] == ["HTTP 503: scripted"] * 2

    clock = Clock()
    server = Server(clock, ["in_progress"], fail={"GET /v1/batches/": [500] * 5})
    result, calls, _ = run(server)
    assert result.outcome == "error" and result.error == "poll: HTTP 500: scripted (5 in a row)"
    assert calls[-1].step == "cancel"  # nothing is left running on the server


def test_a_transport_error_is_a_reason_not_an_exception():
    clock = Clock()
    server = Server(clock, ["completed"])

    def broken(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    server.request = broken
    result, calls, _ = run(server)
    assert result.outcome == "error" and result.error.startswith("upload: ConnectionRefusedError")
    assert calls[0].status == 0


def test_a_stop_mid_batch_cancels_it_waits_for_its_end_and_checks_its_files():
    clock = Clock(stop_at=103.0)
    server = Server(clock, ["in_progress"], output=jsonl([answer("a")]),
                    errors=jsonl([not_run("b", "batch_cancelled"), not_run("c", "batch_cancelled")]))
    result, calls, _ = run(server)
    assert result.outcome == "stopped" and result.status == "cancelled" and server.cancels == 1
    assert result.error == "test stopped: the batch was cancelled"
    steps = [c.step for c in calls]
    assert steps[steps.index("cancel"):] == ["cancel", "poll", "poll", "download", "download"]
    assert (result.check.ok, result.check.cancelled) == (1, 2)


def test_a_batch_the_server_completed_before_the_stops_cancel_counts_as_completed():
    clock = Clock(stop_at=103.0)
    server = Server(clock, ["in_progress"], output=jsonl([answer("a")]), cancelled_to=["completed"])
    result, calls, _ = run(server)
    assert result.outcome == "completed" and result.status == "completed" and result.error is None
    assert server.cancels == 1 and result.check.ok == 1


def test_a_stop_reported_from_outside_ends_the_run_without_waiting():
    clock = Clock()
    server = Server(clock, ["in_progress"])
    batch = build_input([("a", {"messages": []})], URL)
    runner = BatchRun(server, lambda call: None, batch, clock, clock=clock, wall=clock)
    runner._upload()  # the run got as far as a created batch, then the drain timed out
    runner._create("file-1")
    result = runner.stopped("cancelled: test stopped mid-request", wait=False)
    assert result.outcome == "stopped" and server.cancels == 1
    assert runner.stopped("again") is result and server.cancels == 1


def test_an_unknown_status_gives_up():
    clock = Clock()
    result, _, _ = run(Server(clock, ["running"]))
    assert result.outcome == "error" and result.error == "poll: status 'running' is none of the Batch API's"


def test_a_batch_picked_for_cancelling_that_ends_before_its_first_poll_is_not_cancelled():
    clock = Clock()
    server = Server(clock, ["completed"], output=jsonl([answer(i) for i in "abc"]))
    result, _, _ = run(server, cancel=True)
    assert result.outcome == "completed" and server.cancels == 0 and result.cancel_sent is None


def test_the_cancel_share_picks_exactly_that_share_evenly():
    third = EvenShare(1 / 3)
    assert [third.pick() for _ in range(6)] == [False, False, True] * 2
    assert not any(EvenShare(0).pick() for _ in range(5))
    always = EvenShare(1)
    assert all(always.pick() for _ in range(5))
