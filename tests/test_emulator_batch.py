"""The emulator's Batch API: files, states on a timer, cancel, expiry, failures and the list."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from batch.check import check_files
from batch.jsonl import build_input, input_line
from batch.multipart import upload_body
from emulator.batch import BatchService, Share, validate_lines, window_seconds
from emulator.batch_config import BatchConfig
from emulator.config import ConfigError, parse_args
from emulator.launch import start_emulator

CHAT = "/v1/chat/completions"
FAST = BatchConfig(validate_ms=20, line_ms=2, finalize_ms=10, cancel_ms=10)


async def echo(path: str, raw: bytes) -> tuple[int, bytes]:
    """A stand-in for the chat endpoint: 400 for a body asking it, else a one-word completion."""
    body = orjson.loads(raw)
    if body.get("bad"):
        return 400, b'{"error": {"message": "bad request", "type": "BadRequestError", "code": 400}}'
    return 200, orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
                              "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
                              "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})


def lines(n: int, **extra) -> bytes:
    return build_input([(f"id-{i}", {"messages": [{"role": "user", "content": "hi"}], **extra})
                        for i in range(n)], CHAT).data


def with_service(config: BatchConfig, scenario) -> None:
    async def main() -> None:
        app = web.Application()
        BatchService(config, echo).register(app)
        async with TestClient(TestServer(app)) as client:
            await scenario(client)

    asyncio.run(main())


async def submit(client: TestClient, data: bytes, window: str = "24h") -> dict:
    body, content_type = upload_body(data, "in.jsonl")
    uploaded = await client.post("/v1/files", data=body, headers={"Content-Type": content_type})
    assert uploaded.status == 200
    file = await uploaded.json()
    assert file["purpose"] == "batch" and file["bytes"] == len(data) and file["id"].startswith("file-batch-")
    created = await client.post("/v1/batches", json={"input_file_id": file["id"], "endpoint": CHAT,
                                                     "completion_window": window})
    assert created.status == 200
    return await created.json()


async def until_done(client: TestClient, batch_id: str, timeout: float = 5.0) -> tuple[dict, list[str]]:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = await (await client.get(f"/v1/batches/{batch_id}")).json()
        if not seen or seen[-1] != batch["status"]:
            seen.append(batch["status"])
        if batch["status"] in ("completed", "failed", "expired", "cancelled"):
            return batch, seen
        await asyncio.sleep(0.002)
    raise AssertionError(f"batch {batch_id} still {seen[-1]} after {timeout} s")


async def content(client: TestClient, file_id: str | None) -> bytes:
    if file_id is None:
        return b""
    response = await client.get(f"/v1/files/{file_id}/content")
    assert response.status == 200
    return await response.read()


def test_a_batch_goes_validating_in_progress_finalizing_completed_and_every_line_is_answered():
    async def scenario(client: TestClient) -> None:
        created = await submit(client, lines(20))
        assert created["status"] == "validating" and created["object"] == "batch"
        assert created["expires_at"] - created["created_at"] == 86400
        batch, seen = await until_done(client, created["id"])
        assert seen == ["validating", "in_progress", "finalizing", "completed"]
        assert batch["request_counts"] == {"total": 20, "completed": 20, "failed": 0}
        assert batch["error_file_id"] is None and batch["output_file_id"].startswith("file-batch_output-")
        assert batch["in_progress_at"] and batch["finalizing_at"] and batch["completed_at"]
        output = await content(client, batch["output_file_id"])
        report = check_files([f"id-{i}" for i in range(20)], "completed", output,
                             request_counts=batch["request_counts"])
        assert report.passed and report.ok == 20
        line = orjson.loads(output.splitlines()[0])
        assert line["response"]["request_id"] == "chatcmpl-1" and line["error"] is None

    with_service(FAST, scenario)


def test_error_answers_and_emulated_line_failures_go_to_the_error_file():
    async def scenario(client: TestClient) -> None:
        data = build_input([("bad", {"bad": True})], CHAT).data + lines(3)  # the 4th line gets the 500
        batch, _ = await until_done(client, (await submit(client, data))["id"])
        assert batch["status"] == "completed"
        assert batch["request_counts"] == {"total": 4, "completed": 2, "failed": 2}
        errors = await content(client, batch["error_file_id"])
        output = await content(client, batch["output_file_id"])
        sent = ["id-0", "id-1", "id-2", "bad"]
        report = check_files(sent, "completed", output, errors, batch["request_counts"])
        assert report.passed and report.errors == {"HTTP 500": 1, "HTTP 400": 1}

    with_service(BatchConfig(validate_ms=5, line_ms=1, finalize_ms=5, line_error_rate=0.25), scenario)


def test_a_cancelled_batch_lists_the_lines_it_never_ran_as_batch_cancelled():
    async def scenario(client: TestClient) -> None:
        created = await submit(client, lines(50))
        while (await (await client.get(f"/v1/batches/{created['id']}")).json())["status"] != "in_progress":
            await asyncio.sleep(0.002)
        cancelling = await (await client.post(f"/v1/batches/{created['id']}/cancel")).json()
        assert cancelling["status"] == "cancelling" and cancelling["cancelling_at"]
        batch, seen = await until_done(client, created["id"])
        assert seen[-2:] == ["cancelling", "cancelled"] and batch["cancelled_at"]
        report = check_files([f"id-{i}" for i in range(50)], "cancelled",
                             await content(client, batch["output_file_id"]),
                             await content(client, batch["error_file_id"]))
        assert report.passed and report.cancelled > 0 and report.ok + report.cancelled == 50
        again = await client.post(f"/v1/batches/{created['id']}/cancel")
        assert again.status == 409

    with_service(BatchConfig(validate_ms=5, line_ms=5, finalize_ms=5, cancel_ms=5), scenario)


def test_the_expire_share_expires_every_nth_batch_half_way_and_a_short_window_expires_it_too():
    async def scenario(client: TestClient) -> None:
        first = await until_done(client, (await submit(client, lines(10)))["id"])
        second = await until_done(client, (await submit(client, lines(10)))["id"])
        assert first[0]["status"] == "completed" and second[0]["status"] == "expired"
        expired = second[0]
        assert expired["expired_at"]
        assert expired["request_counts"] == {"total": 10, "completed": 5, "failed": 0}
        report = check_files([f"id-{i}" for i in range(10)], "expired",
                             await content(client, expired["output_file_id"]),
                             await content(client, expired["error_file_id"]))
        assert report.passed and (report.ok, report.expired) == (5, 5)

    with_service(BatchConfig(validate_ms=5, line_ms=1, finalize_ms=5, expire_rate=0.5), scenario)

    async def short_window(client: TestClient) -> None:
        batch, _ = await until_done(client, (await submit(client, lines(100)))["id"])
        assert batch["status"] == "expired" and 0 < batch["request_counts"]["completed"] < 100

    with_service(BatchConfig(validate_ms=5, line_ms=5, window_s=0.2), short_window)


def test_a_bad_input_file_fails_validation_with_its_errors_by_line():
    async def scenario(client: TestClient) -> None:
        get = b'{"custom_id": "x", "method": "GET", "url": "/v1/chat/completions"}\n'
        data = lines(1) + b"not json\n" + lines(1) + get
        batch, seen = await until_done(client, (await submit(client, data))["id"])
        assert seen == ["validating", "failed"] and batch["failed_at"]
        assert [(e["code"], e["line"]) for e in batch["errors"]["data"]] == [
            ("invalid_json_line", 2), ("duplicate_custom_id", 3), ("invalid_method", 4)]
        assert batch["output_file_id"] is None and batch["error_file_id"] is None

    with_service(FAST, scenario)


def test_the_fail_share_fails_exactly_that_share_of_batches():
    async def scenario(client: TestClient) -> None:
        ends = []
        for _ in range(4):
            ends.append((await until_done(client, (await submit(client, lines(2)))["id"]))[0]["status"])
        assert ends == ["completed", "failed", "completed", "failed"]

    with_service(BatchConfig(validate_ms=5, line_ms=1, finalize_ms=1, fail_rate=0.5), scenario)


def test_the_list_is_newest_first_paged_and_filtered_by_status():
    async def scenario(client: TestClient) -> None:
        ids = [(await submit(client, lines(1)))["id"] for _ in range(5)]
        for batch_id in ids:
            await until_done(client, batch_id)
        page = await (await client.get("/v1/batches", params={"limit": "2"})).json()
        assert [b["id"] for b in page["data"]] == ids[::-1][:2] and page["has_more"] is True
        assert page["first_id"] == ids[4] and page["last_id"] == ids[3]
        after = {"after": page["last_id"], "limit": "100"}
        rest = await (await client.get("/v1/batches", params=after)).json()
        assert [b["id"] for b in rest["data"]] == ids[::-1][2:] and rest["has_more"] is False
        done = await (await client.get("/v1/batches", params={"status": "completed,expired"})).json()
        assert len(done["data"]) == 5
        assert (await client.get("/v1/batches", params={"limit": "101"})).status == 400

    with_service(FAST, scenario)


def test_bad_requests_are_400s_with_one_reason():
    async def scenario(client: TestClient) -> None:
        body, content_type = upload_body(b"{}\n", "x.jsonl", purpose="fine-tune")
        refused = await client.post("/v1/files", data=body, headers={"Content-Type": content_type})
        assert refused.status == 400
        assert "purpose must be 'batch'" in (await refused.json())["error"]["message"]
        created = await submit(client, lines(1))
        for change, reason in (({"input_file_id": "file-nope"}, "input_file_id names no uploaded batch file"),
                               ({"endpoint": "/v1/embeddings"}, "endpoint must be one of"),
                               ({"completion_window": "24"}, "completion_window must be a whole number")):
            asked = {"input_file_id": created["input_file_id"], "endpoint": CHAT, "completion_window": "24h",
                     **change}
            response = await client.post("/v1/batches", json=asked)
            assert response.status == 400 and reason in (await response.json())["error"]["message"]
        input_content = await client.get(f"/v1/files/{created['input_file_id']}/content")
        assert input_content.status == 400  # only result files can be downloaded
        assert (await client.get("/v1/batches/batch_nope")).status == 404

    with_service(FAST, scenario)


def test_shares_pick_exactly_their_share_spread_evenly():
    share = Share(0.25)
    assert [share.pick() for _ in range(8)] == [False, False, False, True] * 2
    tenth = Share(0.1)
    assert sum(tenth.pick() for _ in range(1000)) == 100
    assert not any(Share(0.0).pick() for _ in range(10)) and all(Share(1.0).pick() for _ in range(10))


def test_windows_and_the_documented_line_limits():
    windows = [window_seconds(w) for w in ("24h", "14d", "0h", "1w", 24)]
    assert windows == [86400, 14 * 86400, None, None, None]
    huge = input_line("a", CHAT, {"x": "y" * (6 * 1024 * 1024)})  # over the limit the client refuses
    _, errors = validate_lines(huge, CHAT)
    assert [e["code"] for e in errors] == ["line_too_large"]
    _, errors = validate_lines(lines(1) + build_input([("b", {})], "/v1/completions").data, CHAT)
    assert [(e["code"], e["line"]) for e in errors] == [("mismatched_endpoint", 2)]


def test_batch_options_are_checked_in_one_line():
    assert parse_args(["--batch-line-ms", "2", "--batch-expire-rate", "0.5"]).batch.expire_rate == 0.5
    with pytest.raises(ConfigError, match=r"argument --batch-fail-rate: 1.5 is out of range; accepted: 0..1"):
        parse_args(["--batch-fail-rate", "1.5"])
    with pytest.raises(ConfigError, match=r"argument --batch-line-ms: -1 is invalid"):
        parse_args(["--batch-line-ms", "-1"])


@pytest.mark.load
def test_the_real_emulator_answers_batch_lines_as_its_chat_endpoint_does():
    with start_emulator("--batch-validate-ms", "10", "--batch-line-ms", "1", "--model", "emu") as emulator:
        data = lines(3, max_tokens=7)
        body, content_type = upload_body(data, "in.jsonl")
        file = _post(emulator.url + "/v1/files", body, content_type)
        batch = _post(emulator.url + "/v1/batches", json.dumps(
            {"input_file_id": file["id"], "endpoint": CHAT, "completion_window": "24h"}).encode())
        deadline = time.monotonic() + 10
        while batch["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
            batch = json.loads(_get(f"{emulator.url}/v1/batches/{batch['id']}"))
        output = _get(f"{emulator.url}/v1/files/{batch['output_file_id']}/content")
    counts = batch["request_counts"]
    report = check_files(["id-0", "id-1", "id-2"], "completed", output, request_counts=counts)
    assert report.passed
    answer = orjson.loads(output.splitlines()[0])["response"]["body"]
    assert answer["model"] == "emu" and answer["usage"]["completion_tokens"] == 7
    assert answer["usage"]["prompt_tokens"] > 1 and len(answer["choices"][0]["message"]["content"]) > 7


def _post(url: str, body: bytes, content_type: str = "application/json") -> dict:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    return json.loads(urllib.request.urlopen(request).read())  # noqa: S310 - a loopback emulator


def _get(url: str) -> bytes:
    return urllib.request.urlopen(url).read()  # noqa: S310 - a loopback emulator
