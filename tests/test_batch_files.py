"""Batch input files within the documented limits, and the checks of output and error files."""

from __future__ import annotations

import orjson
import pytest
from test_batch_client import answer, not_run

from batch import jsonl
from batch.check import check_files
from batch.jsonl import BatchLimitError, build_input
from batch.multipart import upload_body

URL = "/v1/chat/completions"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def lines(*items: dict | bytes) -> bytes:
    return b"".join(item if isinstance(item, bytes) else orjson.dumps(item) + b"\n" for item in items)


def test_input_lines_are_batch_requests_with_their_custom_ids_in_order():
    built = build_input([("1", BODY), ("2", BODY)], URL)
    parsed = [orjson.loads(line) for line in built.data.splitlines()]
    assert parsed == [{"custom_id": c, "method": "POST", "url": URL, "body": BODY} for c in ("1", "2")]
    assert built.custom_ids == ("1", "2") and built.lines == 2 and built.data.endswith(b"\n")


def test_a_repeated_custom_id_or_an_empty_batch_is_refused():
    with pytest.raises(ValueError, match="custom_id '1' is used twice"):
        build_input([("1", BODY), ("1", BODY)], URL)
    with pytest.raises(ValueError, match="no lines"):
        build_input([], URL)


def test_a_line_over_6_mb_is_a_one_line_error_naming_it():
    huge = {"messages": [{"role": "user", "content": "x" * (6 * jsonl.MB)}]}
    with pytest.raises(BatchLimitError) as info:
        build_input([("small", BODY), ("big", huge)], URL)
    message = str(info.value)
    assert message.startswith("batch input line 2 (custom_id 'big') is 6.0 MB; the Batch API takes at most "
                              "6 MB a line")
    assert "\n" not in message


def test_over_50000_lines_or_500_mb_is_a_one_line_error(monkeypatch):
    with pytest.raises(BatchLimitError, match=r"over 50,000 lines; the Batch API takes at most 50,000"):
        build_input(((str(i), {}) for i in range(50_001)), URL)
    line = len(jsonl.input_line("0", URL, BODY))
    monkeypatch.setattr(jsonl, "MAX_FILE_BYTES", 3 * line)  # 500 MB of lines would take a while to build
    with pytest.raises(BatchLimitError, match=r"is over .* MB at line 4; the Batch API takes at most"):
        build_input(((str(i), BODY) for i in range(100)), URL)


def test_exactly_50000_lines_are_accepted():
    assert build_input(((str(i), {}) for i in range(50_000)), URL).lines == 50_000


def test_the_upload_body_is_multipart_with_the_purpose_and_the_file():
    data = b'{"custom_id":"1"}\n'
    body, content_type = upload_body(data, 'in"put.jsonl')
    boundary = content_type.split("boundary=")[1].encode()
    parts = body.split(b"--" + boundary)
    assert parts[0] == b"" and parts[-1] == b"--\r\n"
    assert parts[1] == b'\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
    assert parts[2] == (b'\r\nContent-Disposition: form-data; name="file"; filename="in_put.jsonl"\r\n'
                        b"Content-Type: application/jsonl\r\n\r\n" + data + b"\r\n")


def test_every_custom_id_answered_once_checks_out_and_counts_tokens():
    report = check_files(["a", "b"], "completed", lines(answer("b"), answer("a")),
                         request_counts={"total": 2, "completed": 2, "failed": 0})
    assert report.passed and (report.ok, report.input_tokens, report.output_tokens) == (2, 10, 4)


def test_a_providers_documented_output_line_checks_out():
    line = (b'{"id":"73291560-xxx","custom_id":"1","response":{"status_code":200,"request_id":"73291560",'
            b'"body":{"created":1742303743,"usage":{"completion_tokens":7,"prompt_tokens":26,"total_tokens":33},'
            b'"model":"qwen3-vl-flash","id":"chatcmpl-73291560","choices":[{"finish_reason":"stop","index":0,'
            b'"message":{"content":"2+2 equals 4."}}],"object":"chat.completion"}},"error":null}\n')
    assert check_files(["1"], "completed", line).passed


def test_missing_twice_answered_and_unknown_custom_ids_are_problems():
    report = check_files(["a", "b", "c"], "completed", lines(answer("a"), answer("a"), answer("z")))
    assert report.problems == {"custom_id answered twice": 1, "answer for a custom_id not sent": 1,
                               "custom_id not answered": 1}
    assert report.missing == 2 and report.example == "custom_id answered twice (a)"


def test_error_lines_count_as_failed_by_code_and_may_be_an_error_object_or_a_status():
    status_error = {"id": "r", "custom_id": "b", "error": None,
                    "response": {"status_code": 400, "request_id": "r", "body": {"error": {"message": "x"}}}}
    report = check_files(["a", "b", "c"], "completed", lines(answer("a")),
                         lines(status_error, not_run("c", "server_error")),
                         request_counts={"total": 3, "completed": 1, "failed": 2})
    assert report.passed and (report.ok, report.failed) == (1, 2)
    assert report.errors == {"HTTP 400": 1, "server_error": 1}


def test_lines_not_in_the_documented_shape_are_problems():
    wrong_object = answer("b")
    wrong_object["response"]["body"]["object"] = "chat.completion.chunk"
    no_usage = answer("c")
    del no_usage["response"]["body"]["usage"]
    report = check_files(["a", "b", "c", "d"], "completed",
                         lines(b"not json\n", wrong_object, no_usage, {"custom_id": "d"}))
    assert report.problems == {
        "line is not JSON": 1,
        ("line not in the documented shape: body object 'chat.completion.chunk', "
         "expected 'chat.completion'"): 1,
        "line not in the documented shape: body without integer usage": 1,
        "line lacks a string id or custom_id": 1,
        "custom_id not answered": 1,
    }
    assert report.ok == 0


def test_request_counts_that_disagree_with_the_files_are_a_problem():
    report = check_files(["a"], "completed", lines(answer("a")),
                         request_counts={"total": 1, "completed": 0, "failed": 1})
    assert list(report.problems) == ["request_counts differ from the files"]


def test_expired_and_cancelled_batches_count_their_unrun_lines_listed_or_not():
    expired = check_files(["a", "b", "c"], "expired", lines(answer("a")),
                          lines(not_run("b", "batch_expired")))
    assert expired.passed and (expired.ok, expired.expired, expired.missing) == (1, 2, 0)
    cancelled = check_files(["a", "b"], "cancelled", b"", lines(not_run("a", "batch_cancelled")))
    assert cancelled.passed and cancelled.cancelled == 2


def test_completions_lines_are_checked_for_text_choices():
    body = {"object": "text_completion", "choices": [{"index": 0, "text": "hi"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    line = {"id": "r", "custom_id": "a", "error": None,
            "response": {"status_code": 200, "request_id": "r", "body": body}}
    assert check_files(["a"], "completed", lines(line), url="/v1/completions").passed
    assert not check_files(["a"], "completed", lines(answer("a")), url="/v1/completions").passed
