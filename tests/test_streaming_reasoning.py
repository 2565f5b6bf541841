"""Reasoning, tool calls, several choices and server-side timings, parsed from plain bytes."""

import orjson
import pytest

from streaming.record import RequestRecord
from streaming.sse import chunks_from_bytes
from streaming.stream import consume_response

ROLE = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
CHAT = "/v1/chat/completions"


def event(obj: dict) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def delta(index: int = 0, finish: str | None = None, **fields) -> bytes:
    return event({"choices": [{"index": index, "delta": fields, "finish_reason": finish}]})


def usage(completion: int, reasoning: int | None = None, prompt: int = 5) -> bytes:
    counts = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if reasoning is not None:
        counts["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return event({"choices": [], "usage": counts})


def words(text: str) -> int:
    """A stand-in tokenizer: one token a word."""
    return len(text.split())


def run(pieces, times=None, count_tokens=None, streamed=True, path=CHAT) -> RequestRecord:
    record = RequestRecord("text", t_start=0.0)
    times = times if times is not None else [float(i + 1) for i in range(len(pieces))]
    content_type = "text/event-stream" if streamed else "application/json"
    chunks = chunks_from_bytes(pieces, times)
    consume_response(record, 200, content_type, chunks, path, streamed, count_tokens)
    return record


def test_ttft_is_the_first_reasoning_token_and_ttfo_the_first_answer_token():
    pieces = [ROLE, delta(reasoning_content="let "), delta(reasoning_content="me think "),
              delta(content="The "), delta(content="answer", finish="stop"), usage(4, reasoning=2)]
    record = run(pieces, [0.01, 0.10, 0.12, 0.30, 0.32, 0.33])
    assert record.ok
    assert record.ttft == pytest.approx(0.10) and record.ttfo == pytest.approx(0.30)
    assert record.itls() == pytest.approx([0.02, 0.18, 0.02])
    assert (record.text, record.reasoning_text) == ("The answer", "let me think ")
    assert (record.output_tokens, record.reasoning_tokens, record.reasoning_tokens_source) == (4, 2, "usage")


def test_vllm_reasoning_field_counts_as_reasoning_too():
    pieces = [ROLE, delta(reasoning="hmm"), delta(content="ok", finish="stop")]
    record = run(pieces, count_tokens=words)
    assert (record.reasoning_text, record.text) == ("hmm", "ok")
    assert record.ttft == 2.0 and record.ttfo == 3.0
    assert (record.output_tokens, record.output_tokens_source) == (2, "tokenizer")
    assert (record.reasoning_tokens, record.reasoning_tokens_source) == (1, "tokenizer")


def test_without_usage_details_reasoning_is_recounted_or_counted_in_chunks():
    pieces = [ROLE, delta(reasoning_content="a b c"), delta(reasoning_content=" d"),
              delta(content="x", finish="stop"), usage(5)]
    counted, chunked = run(pieces, count_tokens=words), run(pieces)
    assert (counted.reasoning_tokens, counted.reasoning_tokens_source) == (4, "tokenizer")
    assert (chunked.reasoning_tokens, chunked.reasoning_tokens_source) == (2, "chunks")


def test_a_zero_in_usage_while_reasoning_arrived_is_not_believed():
    pieces = [ROLE, delta(reasoning_content="a b"), delta(content="x", finish="stop"), usage(3, reasoning=0)]
    record = run(pieces, count_tokens=words)
    assert (record.reasoning_tokens, record.reasoning_tokens_source) == (2, "tokenizer")


def test_a_stream_spent_thinking_succeeds_without_an_answer_token():
    """A reasoning model may use all of max_tokens before it answers: a success, no TTFO."""
    pieces = [ROLE, delta(reasoning_content="a"), delta(reasoning_content="b", finish="length"), usage(2, 2)]
    record = run(pieces)
    assert record.ok and record.ttft == 2.0 and record.ttfo is None
    assert record.text == "" and record.reasoning_tokens == record.output_tokens == 2


def test_a_chunk_with_reasoning_and_content_starts_the_answer():
    pieces = [ROLE, delta(reasoning_content="r"), delta(reasoning_content="s", content="A"),
              delta(content="B", finish="stop")]
    record = run(pieces)
    assert record.ttfo == 3.0 and (record.reasoning_text, record.text) == ("rs", "AB")


def test_servers_sending_null_reasoning_beside_content_are_read_as_content():
    """SGLang-style deltas carry every field, most of them null."""
    pieces = [ROLE, delta(content="a", reasoning_content=None, tool_calls=None, role=None),
              delta(content="b", reasoning_content=None, tool_calls=None, finish="stop")]
    record = run(pieces)
    assert record.text == "ab" and record.reasoning_parts == [] and record.ttfo == record.ttft == 2.0


def test_streamed_tool_call_deltas_are_output_tokens():
    first = {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}
    pieces = [ROLE, delta(tool_calls=[first]),
              delta(tool_calls=[{"index": 0, "function": {"arguments": '{"city": '}}]),
              delta(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}]),
              delta(finish="tool_calls")]
    record = run(pieces, count_tokens=lambda text: len(text))
    assert record.ok and record.finish_reason == "tool_calls"
    assert record.ttft == record.ttfo == 2.0 and len(record.token_times) == 3
    assert record.text == 'get_weather{"city": "Paris"}'
    assert (record.output_tokens, record.output_tokens_source) == (len(record.text), "tokenizer")


def test_several_choices_share_one_timeline_and_usage_counts_them_all():
    pieces = [ROLE, delta(0, content="a"), delta(1, content="x"), delta(0, content="b", finish="length"),
              delta(1, content="y", finish="length"), usage(4)]
    record = run(pieces)
    assert record.ok and len(record.token_times) == 4 and record.text == "axby"
    assert record.output_tokens == 4


def test_a_chunk_carrying_two_choices_is_one_token_event_with_both_texts():
    both = event({"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None},
                              {"index": 1, "delta": {"content": "x"}, "finish_reason": "stop"}]})
    record = run([ROLE, both], count_tokens=words)
    assert record.ok and len(record.token_times) == 1 and record.text == "ax"


def test_a_non_streamed_body_keeps_every_choice_and_its_reasoning():
    body = orjson.dumps({"choices": [
        {"index": 0, "message": {"role": "assistant", "content": "one", "reasoning_content": "why"},
         "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": "two"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}})
    record = run([body], streamed=False, count_tokens=words)
    assert record.ok and (record.text, record.reasoning_text) == ("onetwo", "why")
    assert record.ttfo is None
    assert (record.reasoning_tokens, record.reasoning_tokens_source) == (1, "tokenizer")


def mindie_chunk(text: str, so_far: str, completion: int, finish: str | None = None, **top) -> bytes:
    counts = {"prompt_tokens": 7, "completion_tokens": completion, "total_tokens": 7 + completion}
    return event({"id": "endpoint_common_1", "object": "chat.completion.chunk", "full_text": so_far,
                  "usage": counts, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                                                "finish_reason": finish}], **top})


def test_mindie_stream_timings_usage_and_full_text_are_read():
    pieces = [mindie_chunk("a", "a", 1), mindie_chunk("b", "ab", 2),
              mindie_chunk("c", "abc", 3, "length", prefill_time=95.5, decode_time_arr=[7, 7.5])]
    record = run(pieces, [0.1, 0.108, 0.116])
    assert record.ok and record.output_tokens == 3 and record.input_tokens == 7
    assert record.server_prefill_ms == 95.5 and record.server_prefill == pytest.approx(0.0955)
    assert record.server_itls() == pytest.approx([0.007, 0.0075])
    assert record.ttft_minus_server_prefill == pytest.approx(0.1 - 0.0955)
    assert record.full_text == record.text == "abc"


def test_server_timings_inside_usage_are_read_too():
    counts = {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4, "prefill_time": 40,
              "decode_time_arr": [5, "bad", None]}
    pieces = [ROLE, delta(content="a"), delta(content="b", finish="stop"),
              event({"choices": [], "usage": counts})]
    record = run(pieces)
    assert record.server_prefill_ms == 40.0 and record.server_decode_ms == [5.0]


def test_mindie_non_streamed_body_has_its_timings_at_the_top_level():
    body = orjson.dumps({"object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        "prefill_time": 200, "decode_time_arr": [56, 28]})
    record = run([body], streamed=False)
    assert record.ok and record.server_prefill_ms == 200.0 and record.server_decode_ms == [56.0, 28.0]
    assert record.ttft_minus_server_prefill is None  # no client TTFT without a stream


def test_a_server_without_timings_leaves_them_unknown():
    record = run([ROLE, delta(content="a", finish="stop"), usage(1)])
    assert record.server_prefill is None and record.server_itls() == [] and record.full_text is None


def test_a_retry_starts_from_clean_reasoning_and_server_fields():
    record = run([ROLE, delta(reasoning_content="r"), delta(content="a", finish="stop"),
                  event({"choices": [], "prefill_time": 3})])
    done = record.next_attempt()
    assert done.reasoning_parts == ["r"] and done.server_prefill_ms == 3.0 and done.first_answer == 1
    assert record.reasoning_parts == [] and record.first_answer == -1 and record.server_prefill_ms is None
