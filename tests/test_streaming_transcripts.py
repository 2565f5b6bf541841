"""Every recorded real-server response parses to the right outcome and token count.

Fixtures: raw bodies recorded from vLLM, ``transformers serve`` and llama-server
(``tests/fixtures/transcripts/README.md``), replayed in their recorded socket reads
with their recorded arrival times.
"""

import json
from pathlib import Path

import pytest

from emulator.server import KEEP_ALIVE
from metrics.collector import LlmMetrics
from metrics.guard import RepeatedErrorGuard
from metrics.reasons import group_reason
from metrics.report import summarize
from payloads.tokenizer import load_tokenizer
from streaming.record import RequestRecord
from streaming.sse import chunks_from_bytes
from streaming.stream import consume_response, finish

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
EXCHANGES = sorted(p.stem for p in FIXTURES.glob("*.json"))

# The outcome each exchange must parse to: None = success with 8 output tokens.
FAILURES = {
    "llama-server-qwen2vl-e-bad-image": "HTTP 400: Failed to load image or audio file",
    "transformers-5.23-qwen2vl-e-bad-image": "HTTP 500: Internal Server Error",
    "transformers-5.23-qwen2vl-f-ignore-eos": "HTTP 422: Unexpected fields in the request: {'ignore_eos'}",
    "transformers-5.23-text-f-ignore-eos": "HTTP 422: Unexpected fields in the request: {'ignore_eos'}",
    "transformers-5.23-text-e-bad-max-tokens": (
        "error in stream: `max_new_tokens` must be greater than 0, but is -1."
    ),
    "vllm-0.32-cpu-qwen2vl-e-bad-image": "HTTP 400: Non-base64 digit found",
    "vllm-0.32-cpu-text-e-bad-max-tokens": (
        "HTTP 400: max_tokens must be at least 1, got -1. (parameter=max_tokens, value=-1)"
    ),
}


def reads(name: str) -> tuple[list[bytes], list[float], dict]:
    """The body cut into its recorded socket reads, with their arrival times in seconds.

    The transformers bodies had the model's path shortened after recording, so their byte
    counts no longer add up; those servers sent one event per read (README), so cut there.
    """
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    body = (FIXTURES / f"{name}.body").read_bytes()
    times = [ms / 1000 for ms, _ in meta["chunk_times_ms"]]
    sizes = [size for _, size in meta["chunk_times_ms"]]
    if sum(sizes) != len(body):
        events = [e + b"\n\n" for e in body.split(b"\n\n") if e]
        events[-1] = events[-1][: len(events[-1]) - (0 if body.endswith(b"\n\n") else 2)]
        assert len(events) == len(times), name
        return events, times, meta
    pieces, at = [], 0
    for size in sizes:
        pieces.append(body[at : at + size])
        at += size
    return pieces, times, meta


def count_tokens(text: str) -> int:
    """The client's own count: the shipped Qwen3 tokenizer (the servers' models used it too)."""
    return len(load_tokenizer(None).encode(text, add_special_tokens=False))


def replay(name: str, counter=count_tokens) -> tuple[RequestRecord, dict]:
    pieces, times, meta = reads(name)
    headers = {k.lower(): v for k, v in meta["headers"]}
    request = meta["request"]
    record = RequestRecord("text", t_start=0.0, max_tokens=max(request.get("max_tokens", 0), 0))
    streamed = bool(request.get("stream"))
    consume_response(
        record, meta["status"], headers.get("content-type", ""), chunks_from_bytes(pieces, times),
        meta["path"], streamed, counter,
    )
    return record, meta


def expected_source(name: str) -> str:
    """The server's usage where it sent one; llama-server's timings without it; else the re-count."""
    body = (FIXTURES / f"{name}.body").read_bytes()
    if b'"usage"' in body:
        return "usage"
    return "timings" if b'"predicted_n"' in body else "tokenizer"


def test_every_transcript_is_covered():
    assert len(EXCHANGES) == 33


@pytest.mark.parametrize("name", EXCHANGES)
def test_transcript_parses_to_the_right_outcome_and_count(name):
    record, meta = replay(name)
    if name in FAILURES:
        assert record.error == FAILURES[name]
        assert record.status == meta["status"]
        return
    assert record.ok, record.error
    assert record.output_tokens == 8
    assert record.output_tokens_source == expected_source(name)
    if meta["request"].get("stream"):
        assert record.ttft == pytest.approx(first_token_ms(name) / 1000)
        assert record.e2e == pytest.approx(meta["chunk_times_ms"][-1][0] / 1000)
        assert len(record.itls()) == len(record.token_times) - 1


def first_token_ms(name: str) -> float:
    """The recorded arrival of the first read holding a non-empty content delta."""
    pieces, times, _ = reads(name)
    for piece, t in zip(pieces, times, strict=True):
        for line in piece.split(b"\n"):
            if line.startswith(b"data: {"):
                delta = (json.loads(line[6:]).get("choices") or [{}])[0].get("delta") or {}
                if delta.get("content"):
                    return t * 1000
    raise AssertionError("no content")


def test_usage_chunk_with_empty_choices_gives_prompt_tokens():
    record, _ = replay("vllm-0.32-cpu-qwen2vl-d-stream-image")
    assert record.input_tokens == 31 and record.done_marker


def test_stream_that_just_ends_without_done_is_a_success():
    record, _ = replay("transformers-5.23-text-a-stream-usage")
    assert record.ok and not record.done_marker


def test_llama_server_fewer_chunks_than_tokens_counts_tokens_not_chunks():
    record, _ = replay("llama-server-text-b-stream-plain")
    assert len(record.token_times) == 7 and record.output_tokens == 8
    assert record.output_tokens_source == "timings"


@pytest.mark.parametrize("name", ["vllm-0.32-cpu-text-b-stream-plain",
                                  "vllm-0.32-cpu-qwen2vl-b-stream-plain"])
def test_without_usage_or_a_tokenizer_the_chunks_are_counted(name):
    record, _ = replay(name, counter=None)
    assert (record.output_tokens, record.output_tokens_source) == (8, "chunks")


def test_a_recount_above_max_tokens_is_capped_at_the_limit():
    """transformers' gibberish text re-encodes to 14 tokens for its 8; the server's usage wins,
    and without it the limit asked for is the ceiling."""
    record, _ = replay("transformers-5.23-text-a-stream-usage")
    assert count_tokens(record.text) == 14 and record.output_tokens == 8
    record.usage = None
    finish(record, count_tokens)
    assert (record.output_tokens, record.output_tokens_source) == (8, "max_tokens")


def test_the_servers_prompt_count_is_the_input_count_and_images_were_seen():
    """Qwen2-VL servers counted the 64x64 image (31 and 36 prompt tokens against 27 for the
    text alone): with the text requests as the reference, no image request is flagged."""
    metrics = LlmMetrics()
    for server in ("vllm-0.32-cpu", "transformers-5.23", "llama-server"):
        text, _ = replay(f"{server}-qwen2vl-a-stream-usage")
        image, _ = replay(f"{server}-qwen2vl-d-stream-image")
        for record, images in ((text, 0), (image, 1)):
            record.payload_tokens, record.images = 27, images
            assert record.input_tokens == record.server_prompt_tokens
            metrics.add(record)
    summary = summarize(metrics)
    assert summary["total_input_tokens"] == 3 * 27 + 31 + 31 + 36
    assert summary["prompt_tokens_differ"] == 0 and summary["images_ignored"] == 0


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_a_recorded_error_repeated_stops_the_run_only_when_it_is_a_client_error(name):
    record, meta = replay(name)
    guard = RepeatedErrorGuard(first=20)
    reasons = [r for r in (guard.feed(record) for _ in range(25)) if r]
    if 400 <= meta["status"] < 500:
        assert len(reasons) == 1 and group_reason(record.error) in reasons[0]
    else:  # a 500, or an error inside a 200 stream: it may pass next time
        assert reasons == []


def test_the_emulators_llama_server_shape_sends_the_recorded_keep_alive():
    _, _, meta = reads("llama-server-text-a-stream-usage")
    headers = {k.lower(): v for k, v in meta["headers"]}
    assert headers["keep-alive"] == KEEP_ALIVE["Keep-Alive"]
    assert "connection" not in headers  # the close after the stream is not announced
