"""Failure reasons grouped by cause, on real servers' messages: no network, no Locust."""

import json
from pathlib import Path

import orjson
import pytest

from metrics.collector import LlmMetrics
from metrics.reasons import KEY_LIMIT, group_reason
from streaming.record import RequestRecord
from streaming.sse import chunks_from_bytes
from streaming.stream import consume_response, http_error_reason

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"

# Recorded error exchanges -> their group key (readable; only the numbers masked).
RECORDED = {
    "vllm-0.32-cpu-text-e-bad-max-tokens":
        "HTTP 400: max_tokens must be at least N, got -N. (parameter=max_tokens, value=-N)",
    "vllm-0.32-cpu-qwen2vl-e-bad-image": "HTTP 400: Non-base64 digit found",
    "llama-server-qwen2vl-e-bad-image": "HTTP 400: Failed to load image or audio file",
    "transformers-5.23-qwen2vl-e-bad-image": "HTTP 500: Internal Server Error",
    "transformers-5.23-text-f-ignore-eos": "HTTP 422: Unexpected fields in the request: {'ignore_eos'}",
    "transformers-5.23-text-e-bad-max-tokens":
        "error in stream: `max_new_tokens` must be greater than N, but is -N.",
    "metrics/llama-server-without-metrics-flag.501":
        "HTTP 501: This server does not support metrics endpoint. Start it with `--metrics`",
}

OWN = [
    "timeout: no bytes for 60 s",
    "timeout: no first token within 10 s",
    "timeout: request took over 30 s",
    "timeout: connecting",
    "cancelled: test stopped mid-request",
    "connection refused: http://127.0.0.1:8000",
    "cannot resolve host: llm-7.internal",
    "TLS error: WRONG_VERSION_NUMBER",
    "expected text/event-stream, got text/html; charset=utf-8",
    "connection closed mid-response",
    "stream ended without finish_reason",
    "HTTP 503",
]


def recorded_reason(name: str) -> str:
    """The raw reason our reader gives a recorded exchange (its whole body in one read)."""
    path = FIXTURES / f"{name}.json"
    meta = json.loads(path.read_text())
    body_file = path.with_suffix(".body")
    if body_file.exists():
        status, body = meta["status"], body_file.read_bytes()
        content_type = dict((k.lower(), v) for k, v in meta["headers"])["content-type"]
        streamed = meta["request"].get("stream", False)
    else:  # a bare JSON error body, its status in the name
        status, body = int(name.split(".")[-1]), path.read_bytes()
        content_type, streamed = "application/json", True
    record = RequestRecord("text")
    chunks = chunks_from_bytes([body])
    consume_response(record, status, content_type, chunks, "/v1/chat/completions", streamed)
    return record.error


def server_error(status: int, message: str) -> str:
    """The raw reason for an OpenAI-shaped JSON error, as the reader builds it (cut included)."""
    return http_error_reason(status, "application/json", orjson.dumps({"error": {"message": message}}))


def context_length(limit: int, prompt: int, output: int) -> str:
    return (f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt + output} tokens ({prompt} in the messages, {output} in the completion). "
            "Please reduce the length of the messages or completion.")


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_server_errors_group_to_a_readable_key(name):
    assert group_reason(recorded_reason(name)) == RECORDED[name]


def test_context_length_errors_of_any_size_are_one_key():
    sizes = ((4096, 4098, 256), (4096, 12, 4095), (32768, 40000, 1024), (8192, 8193, 1))
    raws = {server_error(400, context_length(*size)) for size in sizes}
    assert len(raws) == 4
    assert {group_reason(r) for r in raws} == {
        "HTTP 400: This model's maximum context length is N tokens. However, you requested N tokens "
        "(N in the messages, N in the…"
    }


def test_messages_cut_after_a_different_number_of_digits_share_a_key():
    short, long = (server_error(400, context_length(10**k, 10**k, 10**k)) for k in (1, 6))
    assert short.endswith("…") and long.endswith("…") and short[-25:] != long[-25:]
    assert group_reason(short) == group_reason(long)


@pytest.mark.parametrize("reason", OWN)
def test_the_projects_own_reasons_stay_as_they_are(reason):
    assert group_reason(reason) == reason


@pytest.mark.parametrize(("raw", "key"), [
    ("HTTP 500: request 6b9fecd9-4139-9190-b9d6-4f473c3f0e9b failed", "HTTP 500: request <id> failed"),
    ("error in stream: engine dead for chatcmpl-a71f0c35e9d24b8c",
     "error in stream: engine dead for chatcmpl-<id>"),
    ("HTTP 429: Rate limit reached in organization org-AbC123dEf456GhI789. Please try again in 2.676s.",
     "HTTP 429: Rate limit reached in organization org-<id>. Please try again in Ns."),
    ("HTTP 400: Invalid image 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAE' (64x64)",
     "HTTP 400: Invalid image 'data:image/png;base64,…' (NxN)"),
    ("HTTP 400: 1 validation error: Input should be a valid string [type=string_type, "
     "input_value={'type': 'text', 'text': 'hi'}, input_type=dict]",
     "HTTP 400: N validation error: Input should be a valid string [type=string_type, input_value=…, "
     "input_type=dict]"),
    ("HTTP 400: Prompt 'Write a haiku about load testing.' was rejected",
     "HTTP 400: Prompt '…' was rejected"),
])
def test_ids_and_echoed_input_are_masked(raw, key):
    assert group_reason(raw) == key


@pytest.mark.parametrize("raw", [
    "HTTP 404: The model `Qwen/Qwen3-8B` does not exist.",
    "HTTP 400: gpt-4 is not served here",
    "HTTP 400: Qwen2VLForConditionalGeneration cannot take audio",
    "OSError: [Errno 113] No route to host",
    "HTTP 400: the field 'max_tokens' is not allowed here, nor can't it be",
])
def test_names_versions_and_errnos_are_not_masked(raw):
    assert group_reason(raw) == raw


@pytest.mark.parametrize("raw", [*OWN, *(server_error(400, context_length(4096, 5000, 256)),),
                                 "HTTP 429: try again in 2.5 s (request req_8f2KzQ1xYbN3wP)"])
def test_grouping_twice_changes_nothing(raw):
    key = group_reason(raw)
    assert group_reason(key) == key and len(key) <= max(KEY_LIMIT, len(raw))


def failed(error: str, cls: str = "text") -> RequestRecord:
    record = RequestRecord(cls, t_start=0.0, wall_start=1000.0)
    record.t_end, record.error = 0.05, error
    return record


def test_collector_counts_failures_by_grouped_reason_and_keeps_the_raw_one():
    metrics = LlmMetrics()
    records = [failed(server_error(400, context_length(4096, prompt, 256))) for prompt in (4000, 4100, 9000)]
    records.append(failed("timeout: no bytes for 60 s", cls="base64"))
    for record in records:
        metrics.add(record)
    overall = metrics.overall()
    assert overall.failed == 4 and len(overall.failures) == 2
    assert overall.failures["timeout: no bytes for 60 s"] == 1
    assert "4000 in the messages" in records[0].error


def test_collector_groups_retried_reasons_too():
    metrics = LlmMetrics()
    for wait in ("2.676", "0.5"):
        retried = failed(f"HTTP 429: Please try again in {wait}s.")
        retried.status = 429
        metrics.add_retry(retried)
    assert dict(metrics.overall().retries) == {"HTTP 429: Please try again in Ns.": 2}
