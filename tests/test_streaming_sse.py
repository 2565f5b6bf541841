"""The SSE layer and the streaming loop on plain bytes: no network, no Locust."""

import pytest

from streaming.chunks import chat_chunk
from streaming.record import RequestRecord
from streaming.sse import SSEDecoder, TimedChunks, chunks_from_bytes
from streaming.stream import EventReader, consume_response, read_stream

ROLE = b'data: {"choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n'


def tok(text: str, finish: str | None = None) -> bytes:
    reason = f'"{finish}"' if finish else "null"
    return (
        b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"},"finish_reason":'
        + reason.encode() + b"}]}\n\n"
    )


def events_with_times(pieces, times):
    chunks, decoder, out, last = chunks_from_bytes(pieces, times), SSEDecoder(), [], [0.0]

    def take(chunk, t):
        last[0] = t
        out.extend((data, t) for data in decoder.feed(chunk))

    chunks.feed_into(take)
    return out + [(data, last[0]) for data in decoder.end()]


def test_event_split_across_three_reads_is_stamped_with_the_last_read():
    body = tok("hello")
    pieces = [body[:7], body[7:30], body[30:]]
    assert events_with_times(pieces, [1.0, 2.0, 3.0]) == [(body[6:-2], 3.0)]


def test_several_events_in_one_read_share_its_arrival_time():
    got = events_with_times([tok("a") + tok("b") + tok("c")], [5.0])
    assert [t for _, t in got] == [5.0, 5.0, 5.0]
    assert len(got) == 3


def test_crlf_line_ends_and_a_split_between_cr_and_lf():
    body = tok("x").replace(b"\n", b"\r\n")
    cut = body.index(b"\r\n\r\n") + 3
    got = events_with_times([body[:cut], body[cut:]], [1.0, 2.0])
    assert got == [(body[6 : body.index(b"\r")], 2.0)]


def test_comments_and_keep_alive_lines_are_skipped():
    body = b": keep-alive\n\n" + b":ping\n" + tok("a") + b"\n\n" + b": another comment\n\n"
    got = events_with_times([body], [1.0])
    assert len(got) == 1 and b'"content":"a"' in got[0][0]


def test_multi_line_data_is_joined_with_newlines():
    body = b'data: {"a":\ndata: 1}\n\n'
    assert events_with_times([body], [1.0]) == [(b'{"a":\n1}', 1.0)]


def test_event_and_id_fields_do_not_break_data():
    body = b"event: message\nid: 7\nretry: 100\n" + tok("z")
    got = events_with_times([body], [1.0])
    assert len(got) == 1 and b'"content":"z"' in got[0][0]


def test_stream_without_trailing_blank_line_still_yields_last_event():
    body = tok("a") + b"data: [DONE]"
    assert [d for d, _ in events_with_times([body], [1.0])][-1] == b"[DONE]"


def run(pieces, times, t_start=0.0, max_tokens=0, content_type="text/event-stream", status=200,
        count_tokens=None):
    record = RequestRecord("text", t_start=t_start, max_tokens=max_tokens)
    chunks = chunks_from_bytes(pieces, times)
    consume_response(record, status, content_type, chunks, "/v1/chat/completions", True, count_tokens)
    return record


def test_events_split_at_every_byte_come_out_whole_and_in_order():
    body = ROLE + tok("a") + b": ping\n\n" + tok("b").replace(b"\n", b"\r\n") + tok("c")
    pieces = [body[i : i + 1] for i in range(len(body))]
    got = [d for d, _ in events_with_times(pieces, list(range(len(pieces))))]
    assert len(got) == 4
    for data, text in zip(got[1:], (b"a", b"b", b"c"), strict=True):
        assert b'"content":"' + text + b'"' in data


def test_ttft_and_itl_come_from_the_arrival_of_token_bearing_events():
    pieces = [ROLE, tok("a"), tok("b"), tok("c", "length"), b"data: [DONE]\n\n"]
    record = run(pieces, [0.010, 0.120, 0.127, 0.134, 0.135], max_tokens=3)
    assert record.ok
    assert record.ttft == pytest.approx(0.120)
    assert record.itls() == pytest.approx([0.007, 0.007])
    assert record.e2e == pytest.approx(0.135)
    assert record.output_tokens == 3 and record.output_tokens_source == "chunks"


def test_without_usage_a_trimmed_output_counts_what_arrived_not_max_tokens():
    """A server that trims the output to its context stops for length below max_tokens."""
    pieces = [ROLE, tok("a"), tok("b"), tok("c", "length"), b"data: [DONE]\n\n"]
    record = run(pieces, [1, 2, 3, 4, 5], max_tokens=512)
    assert record.output_tokens == 3 and record.output_tokens_source == "chunks"


def test_without_usage_the_tokenizer_counts_the_text_and_max_tokens_caps_it():
    pieces = [ROLE, tok("a b c d "), tok("e f", "length"), b"data: [DONE]\n\n"]
    words = lambda text: len(text.split())  # noqa: E731 - a stand-in tokenizer: one token a word
    record = run(pieces, [1, 2, 3, 4], max_tokens=16, count_tokens=words)
    assert (record.output_tokens, record.output_tokens_source) == (6, "tokenizer")
    capped = run(pieces, [1, 2, 3, 4], max_tokens=4, count_tokens=words)
    assert (capped.output_tokens, capped.output_tokens_source) == (4, "max_tokens")


def test_a_recount_below_the_chunk_count_takes_the_chunks():
    pieces = [ROLE, tok("ab"), tok("c"), tok("d", "length")]
    record = run(pieces, [1, 2, 3, 4], count_tokens=lambda text: 1)
    assert (record.output_tokens, record.output_tokens_source) == (3, "chunks")


def test_llama_server_timings_count_the_output_without_usage():
    finish = (b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}],'
              b'"timings":{"prompt_n":1,"predicted_n":8}}\n\n')
    record = run([ROLE, tok("a"), tok("b"), finish], [1, 2, 3, 4], max_tokens=8)
    assert (record.output_tokens, record.output_tokens_source) == (8, "timings")


def test_usage_in_finish_chunk_is_counted_once():
    finish = (
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n'
    )
    record = run([ROLE + tok("a") + tok("b") + finish], [1.0])
    assert record.ok and record.output_tokens == 2 and record.output_tokens_source == "usage"
    assert record.input_tokens == 5 and not record.done_marker


def test_last_token_in_the_finish_chunk_is_not_lost():
    record = run([ROLE, tok("a"), tok("b", "stop"), b"data: [DONE]\n\n"], [1, 2, 3, 4])
    assert record.text == "ab" and len(record.token_times) == 2 and record.ok


def test_reasoning_and_tool_call_deltas_are_tokens():
    reasoning = b'data: {"choices":[{"delta":{"reasoning_content":"hmm"}}]}\n\n'
    tool = (
        b'data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":'
        b'{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}\n\n'
    )
    record = run([ROLE, reasoning, tool], [1, 2, 3])
    assert record.ok and record.finish_reason == "tool_calls" and len(record.token_times) == 2
    assert (record.reasoning_text, record.text) == ("hmm", "f{}")


def test_error_object_inside_the_stream_is_a_failure_with_its_message():
    body = ROLE + tok("a") + b'data: {"error": {"message": "out of memory", "code": 500}}\n\n'
    record = run([body], [1.0])
    assert record.error == "error in stream: out of memory"


def test_malformed_json_chunk_is_a_failure():
    record = run([ROLE + b'data: {"choices": [\n\n'], [1.0])
    assert record.error == "malformed JSON in stream chunk"


def test_stream_without_finish_reason_is_a_failure():
    record = run([ROLE + tok("a") + b"data: [DONE]\n\n"], [1.0])
    assert record.error == "stream ended without finish_reason"


def test_empty_choices_stream_is_an_empty_response():
    body = b'data: {"choices":[]}\n\n' * 3 + b"data: [DONE]\n\n"
    assert run([body], [1.0]).error == "empty response: no content"


def test_html_instead_of_sse_is_a_classified_failure():
    record = run([b"<html><body>Bad gateway</body></html>"], [1.0], content_type="text/html")
    assert record.error == "expected text/event-stream, got text/html"


def test_http_error_status_uses_the_openai_error_message():
    body = b'{"error":{"message":"max_tokens must be at least 1","type":"BadRequestError","code":400}}'
    record = run([body], [1.0], content_type="application/json", status=400)
    assert record.error == "HTTP 400: max_tokens must be at least 1" and record.status == 400


def test_callbacks_see_ttft_then_each_gap():
    seen = []
    record = RequestRecord("text", t_start=1.0)
    chunks = chunks_from_bytes([ROLE, tok("a"), tok("b"), tok("c", "stop")], [1.0, 1.5, 1.75, 2.0])
    read_stream(
        chunks, chat_chunk, record,
        on_first=lambda r, s: seen.append(("first", s)),
        on_token=lambda r, s: seen.append(("token", s)),
    )
    assert seen == [("first", 0.5), ("token", 0.25), ("token", 0.25)]


def test_multi_token_chunks_without_usage_are_counted_by_the_tokenizer():
    record = RequestRecord("text", t_start=0.0)
    stop = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    chunks = chunks_from_bytes([ROLE + tok(" one two three") + tok(" four") + stop], [1.0])
    consume_response(record, 200, "text/event-stream", chunks, "/v1/chat/completions", True,
                     count_tokens=lambda text: len(text.split()))
    assert record.ok and len(record.token_times) == 2
    assert record.output_tokens == 4 and record.output_tokens_source == "tokenizer"


@pytest.mark.parametrize("read", [
    b'data: {"a": 1}\n\n',
    b'data: {"a": 1}\r\n\n',  # a CRLF line end, then LF: the data has no CR
    b'data: {"a":\r1}\n\n',  # a bare CR ends the line: data '{"a":', then a line '1}'
    b'data:  two spaces\n\n',  # only the first space after the colon goes
    b'data:{"a": 1}\n\n',
    b'data: one\ndata: two\n\n',
    b': keep-alive\n\n',
    b'data: [DONE]\n\n',
    b'event: ping\ndata: x\n\n',
])
def test_the_one_line_read_fast_path_agrees_with_the_decoder_and_sseclient(read):
    from streaming.sse import _parse

    assert SSEDecoder().feed(read) == _parse(read)
    reader = Collecting(TimedChunks(), chat_chunk, RequestRecord("text"), None, None)
    reader.take(read, 1.0)
    assert reader.got == [(data, 1.0) for data in _parse(read)]


def test_the_one_line_read_after_a_partial_event_is_stitched_not_cut_alone():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: {\"a\"") == []
    assert decoder.feed(b'data: 1}\n\n') == [b'{"a"data: 1}']
    reader = Collecting(TimedChunks(), chat_chunk, RequestRecord("text"), None, None)
    reader.take(b"data: {\"a\"", 1.0)
    reader.take(b'data: 1}\n\n', 2.0)
    assert reader.got == [(b'{"a"data: 1}', 2.0)]


class Collecting(EventReader):
    """The event reader with each event's data and time kept, not parsed."""

    __slots__ = ("got",)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.got = []

    def _event(self, data: bytes, t: float) -> None:
        self.got.append((data, t))


@pytest.mark.parametrize("chunks", [
    [{"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}] * 3,
    [{"choices": [{"delta": {"reasoning_content": "r"}}]}, {"choices": [{"delta": {"content": "a"}}]},
     {"choices": [{"delta": {"content": "b"}}]}],
    [{"choices": [{"delta": {"content": "a"}}]},
     {"choices": [{"delta": {"content": "b"}, "finish_reason": "stop"}], "usage": {"completion_tokens": 2}}],
    [{"choices": [{"delta": {"content": "a"}}]}, {"choices": [{"delta": {"content": ""}}]},
     {"choices": [{"delta": {"content": "b"}}]}, {"error": {"message": "boom"}}],
    [{"choices": [{"delta": {"content": "a"}}]},
     {"choices": [{"delta": {"content": "b"}}], "usage": {"x": 1}},
     {"choices": [{"delta": {"content": "c"}}, {"delta": {"content": "d"}}]}],
    # shapes the fast path's lookups must hand to the general path, each after a first answer token
    *([{"choices": [{"delta": {"content": "a"}}]}, odd, {"choices": [{"delta": {"content": "b"}}]}]
      for odd in (
        {"choices": []}, {"choices": {"delta": 1}}, {"choices": "x"}, {"choices": 3}, {"choices": [None]},
        {"choices": [{"delta": None}]}, {"choices": [{"delta": ["content"]}]},
        {"choices": [{"delta": "content"}]}, {"choices": [{"delta": {"content": 5}}]},
        {"choices": [{"delta": {"content": None}}]}, {"choices": [{}]},
        {"choices": [{"delta": {"content": "b", "role": "assistant"}}]},
        {"choices": [{"delta": {"content": "c"}, "finish_reason": "stop"}]})),
])
def test_the_usual_chunk_fast_path_records_what_the_general_path_does(chunks):
    """chat_chunk's fast path against the general path, on records in the same state."""
    from streaming.chunks import StreamError, chat_chunk_general

    records = []
    for parse in (chat_chunk, chat_chunk_general):
        record, out = RequestRecord("text"), []
        for obj in chunks:
            try:
                piece = parse(obj, record)
            except StreamError as exc:
                out.append(str(exc))
                break
            out.append(piece)
            if piece:
                record.token_times.append(len(record.token_times))
        records.append((out, record.text_parts, record.reasoning_parts, record.first_answer,
                        record.finish_reason, record.usage))
    assert records[0] == records[1]
