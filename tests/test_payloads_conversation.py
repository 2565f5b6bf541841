"""Conversations keep their history with the server's real replies; chat bodies keep the record's fields."""

import pytest

from payloads.conversation import Conversation
from payloads.datasets import ShareGPTConversation
from payloads.errors import PayloadError
from payloads.prompts import PromptFactory
from payloads.request import SampleRequest
from payloads.tokenizer import count_tokens, load_tokenizer


def test_history_grows_with_the_real_replies():
    chat = Conversation(["Hi", "And then?"], max_tokens=16, system="Be brief.")
    assert chat.next_messages() == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}
    ]
    chat.add_reply("Hello!")
    assert (chat.turn_index, chat.done) == (1, False)
    assert chat.next_messages() == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "And then?"},
    ]
    chat.add_reply("That's all.")
    assert (chat.turn_index, chat.done) == (2, True)
    assert chat.history[-1] == {"role": "assistant", "content": "That's all."}


def test_asking_again_before_a_reply_retries_the_same_turn():
    chat = Conversation(["one", "two"])
    assert chat.next_messages() == chat.next_messages()
    assert chat.turn_index == 0


def test_reply_without_pending_turn_and_turn_after_the_end_are_refused():
    chat = Conversation(["only"], conversation_id="c1")
    with pytest.raises(PayloadError, match="^conversation c1: add_reply without a pending user turn$"):
        chat.add_reply("unasked")
    chat.next_messages()
    chat.add_reply("answer")
    with pytest.raises(PayloadError, match="^conversation c1: all 1 turns are done$"):
        chat.next_messages()


def test_next_request_carries_the_turn_limit_and_id():
    chat = Conversation(["a", "b"], max_tokens=[5, 9], conversation_id="c7")
    first = chat.next_request()
    assert (first.expected_output_tokens, first.custom_id, first.prompt_tokens) == (5, "c7", None)
    chat.add_reply("x")
    assert chat.next_request().expected_output_tokens == 9


def test_bad_turns_and_limits_are_one_line_errors():
    with pytest.raises(PayloadError, match="^user_turns: empty"):
        Conversation([])
    with pytest.raises(PayloadError, match="^max_tokens: 1 limits for 2 user turns"):
        Conversation(["a", "b"], max_tokens=[3])


def test_from_sharegpt_uses_recorded_reply_lengths_as_max_tokens():
    tok = load_tokenizer()
    replies = ("a short reply", "another, longer reply here")
    data = ShareGPTConversation(("q1", "q2", "q3"), replies, "sys", "s1")
    chat = Conversation.from_sharegpt(data, tokenizer=tok, max_tokens=64)
    assert chat.max_tokens == (
        count_tokens(tok, "a short reply"), count_tokens(tok, "another, longer reply here"), 64
    )
    assert chat.next_messages()[0] == {"role": "system", "content": "sys"}
    assert Conversation.from_sharegpt(data).max_tokens == (None, None, None)


def test_from_factory_turns_are_exact_lengths():
    tok = load_tokenizer()
    chat = Conversation.from_factory(PromptFactory(tok, seed=9), turns=3, turn_tokens=50, max_tokens=20)
    assert [count_tokens(tok, turn) for turn in chat.user_turns] == [50, 50, 50]
    assert chat.max_tokens == (20, 20, 20)
    with pytest.raises(PayloadError, match="^turns=0: accepted values are integers >= 1"):
        Conversation.from_factory(PromptFactory(tok), turns=0, turn_tokens=5)


def test_to_body_fills_defaults_and_streams_with_usage():
    sample = SampleRequest([{"role": "user", "content": "hi"}], 1, 8, 32)
    assert sample.to_body(model="m", stream=True) == {
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 32, "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert "stream_options" not in sample.to_body(model="m", stream=False)
    assert "stream_options" not in sample.to_body(model="m", stream=True, include_usage=False)


def test_to_body_never_adds_stream_options_to_a_record_that_does_not_stream():
    messages = [{"role": "user", "content": "hi"}]
    sample = SampleRequest(messages, None, None, None, body_extra={"stream": False})
    assert sample.to_body(stream=True) == {"messages": messages, "stream": False}
