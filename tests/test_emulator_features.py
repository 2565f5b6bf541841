"""The emulator's request features, reasoning mode and MindIE style: the shapes a client must read."""

import asyncio
import json

import orjson
import pytest

from emulator.features import Features, parse_features
from emulator.launch import start_emulator
from emulator.probe import Exchange, post
from emulator.reply import cut_at_stop, plan_reply, tool_arguments
from emulator.tokens import OutputWords, load_tokenizer
from emulator.validate import BadRequest, parse_chat

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "Say something."}]
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def chat(url: str, **body) -> Exchange:
    return asyncio.run(post(url, CHAT, {"messages": HI, **body}))


def events(exchange: Exchange) -> list[dict]:
    return [orjson.loads(data) for _, data in exchange.events() if data != b"[DONE]"]


def deltas(chunks: list[dict], key: str, index: int = 0) -> str:
    return "".join(c["choices"][0]["delta"].get(key) or "" for c in chunks
                   if c.get("choices") and c["choices"][0]["index"] == index)


def log_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def words():
    return OutputWords(load_tokenizer(None))


# --- planning, no server ------------------------------------------------------------------------


def test_reasoning_takes_the_first_tokens_of_max_tokens_and_thinking_switches_apply(words):
    reply = plan_reply(words.take, 0, 10, Features(), 4, words.count)
    assert [len(reply.choices[0].reasoning), len(reply.choices[0].answer)] == [4, 6]
    assert reply.completion_tokens == 10 and reply.reasoning_tokens == 4
    assert plan_reply(words.take, 0, 10, Features(thinking=False), 4, words.count).reasoning_tokens == 0
    assert plan_reply(words.take, 0, 10, Features(thinking_budget=2), 4, words.count).reasoning_tokens == 2
    assert plan_reply(words.take, 0, 3, Features(), 4, words.count).choices[0].answer == []


def test_a_stop_string_cuts_the_answer_before_it():
    assert cut_at_stop([" a", " stop", " b"], (" stop",)) == ([" a"], "stop")
    assert cut_at_stop([" a", " b"], ("zz",)) == ([" a", " b"], "length")


def test_tool_arguments_join_to_json():
    assert json.loads("".join(tool_arguments([" load", ' "x"', " test"]))) == {"text": ' load "x" test'}
    assert json.loads("".join(tool_arguments([" one"]))) == {"text": " one"}
    assert json.loads("".join(tool_arguments([]))) == {"text": ""}


def test_features_are_parsed_and_bad_ones_are_400s_naming_the_field():
    body = {"n": 2, "stop": "x", "seed": 3, "tools": [TOOL], "tool_choice": "required",
            "fullTextEnabled": True, "chat_template_kwargs": {"enable_thinking": False},
            "response_format": {"type": "json_object"}}
    features = parse_features(body)
    assert (features.n, features.stop, features.seed, features.tool) == (2, ("x",), 3, "get_weather")
    assert features.thinking is False and features.full_text is True
    assert {"n", "stop", "seed", "tools", "tool_choice", "response_format"} <= set(features.seen)
    for bad, param in ((b'"n": 0', "n"), (b'"tool_choice": "auto"', "tool_choice"),
                       (b'"response_format": {"type": "yaml"}', "response_format"),
                       (b'"reasoning_effort": "max"', "reasoning_effort"), (b'"stop": [1]', "stop"),
                       (b'"enable_thinking": "yes"', "enable_thinking")):
        with pytest.raises(BadRequest) as info:
            parse_chat(b'{"messages": [{"role": "user", "content": "x"}], ' + bad + b"}", 16)
        assert info.value.param == param


# --- served ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reasoning(tmp_path_factory):
    log = tmp_path_factory.mktemp("emu") / "requests.jsonl"
    args = ("--ttft-ms", "0", "--itl-ms", "0", "--reasoning-tokens", "3", "--log", str(log))
    with start_emulator(*args) as emu:
        emu.log = log
        yield emu


def test_a_reasoning_stream_sends_reasoning_then_the_answer_with_usage_details(reasoning):
    ex = chat(reasoning.url, max_tokens=8, stream=True, stream_options={"include_usage": True})
    chunks = events(ex)
    kinds = [next(k for k in ("reasoning_content", "content") if c["choices"][0]["delta"].get(k))
             for c in chunks if c.get("choices") and any(c["choices"][0]["delta"].get(k)
                                                         for k in ("reasoning_content", "content"))]
    assert kinds == ["reasoning_content"] * 3 + ["content"] * 5
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == 8 and usage["completion_tokens_details"] == {"reasoning_tokens": 3}
    line = log_of(reasoning.log)[-1]
    assert line["reasoning_tokens"] == 3 and line["ttfo_ms"] is not None


def test_thinking_off_and_a_non_streamed_body_with_reasoning(reasoning):
    ex = chat(reasoning.url, max_tokens=6, stream=False, enable_thinking=False)
    body = orjson.loads(ex.body)
    assert "reasoning_content" not in body["choices"][0]["message"]
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}
    ex = chat(reasoning.url, max_tokens=6, stream=False)
    message = orjson.loads(ex.body)["choices"][0]["message"]
    assert len(message["reasoning_content"].split()) == 3 and len(message["content"].split()) == 3


def test_n_choices_stream_side_by_side_and_usage_counts_all(reasoning):
    ex = chat(reasoning.url, max_tokens=5, stream=True, n=2, stream_options={"include_usage": True})
    chunks = events(ex)
    texts = [deltas(chunks, "content", i) for i in (0, 1)]
    assert all(len(t.split()) == 2 for t in texts) and texts[0] != texts[1]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")
                and c["choices"][0]["finish_reason"]]
    assert finishes == ["length", "length"] and chunks[-1]["usage"]["completion_tokens"] == 10
    body = orjson.loads(chat(reasoning.url, max_tokens=5, n=3).body)
    assert [c["index"] for c in body["choices"]] == [0, 1, 2] and body["usage"]["completion_tokens"] == 15


def test_the_same_seed_gives_the_same_words_and_a_stop_string_ends_the_answer(reasoning):
    first, again = (orjson.loads(chat(reasoning.url, max_tokens=12, seed=5).body) for _ in range(2))
    text = first["choices"][0]["message"]["content"]
    assert text == again["choices"][0]["message"]["content"]
    stop = text.split()[4]
    cut = orjson.loads(chat(reasoning.url, max_tokens=12, seed=5, stop=[" " + stop]).body)["choices"][0]
    assert cut["finish_reason"] == "stop" and cut["message"]["content"] == text[: text.index(" " + stop)]


def test_a_required_tool_is_called_in_streamed_tool_call_deltas(reasoning):
    ex = chat(reasoning.url, max_tokens=6, stream=True, tools=[TOOL], tool_choice="required",
              enable_thinking=False, stream_options={"include_usage": True})
    chunks = events(ex)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
             if c.get("choices") and c["choices"][0]["delta"].get("tool_calls")]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
    arguments = "".join(call["function"]["arguments"] for call in calls)
    assert len(json.loads(arguments)["text"].split()) == 6
    assert [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")][-1] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == OutputWords(load_tokenizer(None)).count(
        "get_weather" + arguments)
    assert "tools" in log_of(reasoning.log)[-1]["features"]


def test_json_mode_and_reasoning_effort_are_accepted(reasoning):
    ex = chat(reasoning.url, max_tokens=4, response_format={"type": "json_object"}, reasoning_effort="low",
              ignore_eos=True, min_tokens=2, thinking_budget=1)
    assert ex.status == 200
    assert orjson.loads(ex.body)["usage"]["completion_tokens_details"]["reasoning_tokens"] == 1


@pytest.fixture(scope="module")
def mindie():
    with start_emulator("--ttft-ms", "30", "--itl-ms", "5", "--mindie") as emu:
        yield emu


def test_mindie_stream_has_usage_in_each_chunk_full_text_and_timings_in_the_last(mindie):
    ex = chat(mindie.url, max_tokens=4, stream=True, fullTextEnabled=True)
    chunks = events(ex)
    tokens = [c for c in chunks if c["choices"][0]["delta"].get("content")]
    assert [c["usage"]["completion_tokens"] for c in tokens] == [1, 2, 3, 4]
    assert tokens[-1]["full_text"] == deltas(chunks, "content")
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "length" and last["usage"]["completion_tokens"] == 4
    assert last["prefill_time"] == 30.0 and last["decode_time_arr"] == [5.0, 5.0, 5.0]


def test_mindie_body_has_its_timings_at_the_top_and_takes_one_choice(mindie):
    body = orjson.loads(chat(mindie.url, max_tokens=3).body)
    assert body["prefill_time"] == 30.0 and body["decode_time_arr"] == [5.0, 5.0]
    assert "full_text" not in body
    assert chat(mindie.url, max_tokens=3, n=2).status == 400
