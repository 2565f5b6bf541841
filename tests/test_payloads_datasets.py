"""Dataset loaders: good paths on the shipped samples, bad lines named FILE:LINE, skip_bad reports."""

import json
from pathlib import Path

import pytest

from payloads.datasets import load_batch, load_prompts, load_sharegpt
from payloads.errors import DatasetError
from payloads.tokenizer import content_tokens, load_tokenizer

SAMPLES = Path(__file__).resolve().parents[1] / "payloads" / "samples"


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_sample_prompts_load_with_exact_token_counts():
    tok = load_tokenizer()
    records, report = load_prompts(SAMPLES / "prompts.jsonl", tokenizer=tok)
    assert (report.kept, report.skipped) == (5, 0)
    assert records[0].messages == [
        {"role": "user", "content": "Explain in two sentences what a load generator measures."}
    ]
    assert records[0].expected_output_tokens == 64 and records[1].expected_output_tokens is None
    assert records[3].custom_id == "multi-1" and len(records[3].messages) == 3
    for record in records:
        assert record.prompt_tokens == content_tokens(tok, record.messages)
        rendered = tok.apply_chat_template(record.messages, add_generation_prompt=True)["input_ids"]
        assert record.prompt_tokens + record.template_overhead == len(rendered)


def test_prompts_without_tokenizer_have_unknown_counts():
    records, _ = load_prompts(SAMPLES / "prompts.jsonl")
    assert records[0].prompt_tokens is None and records[0].template_overhead is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json at all", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"text": "hi"}', "needs exactly one of 'prompt' or 'messages'"),
        ('{"prompt": "hi", "messages": []}', "needs exactly one of 'prompt' or 'messages'"),
        ('{"prompt": "   "}', "'prompt' is not a non-empty string"),
        ('{"prompt": "hi", "max_tokens": 0}', "'max_tokens' 0: accepted: an integer >= 1"),
        ('{"messages": [{"role": "bot", "content": "x"}]}', "message 1 role 'bot': accepted: system, "),
        ('{"messages": [{"role": "user"}]}', "message 1 'content' is not a string or a list of typed parts"),
    ],
)
def test_bad_prompt_line_is_named_by_file_and_line(tmp_path, line, reason):
    path = write(tmp_path, "p.jsonl", ['{"prompt": "fine"}', "", line])
    with pytest.raises(DatasetError) as info:
        load_prompts(path)
    assert str(info.value).startswith(f"{path}:3: {reason}")
    assert "\n" not in str(info.value)


def test_skip_bad_keeps_the_good_lines_and_reports_why(tmp_path):
    lines = ['{"prompt": "a"}', "{oops", '{"prompt": "b", "lang": "en"}', "{oops", '{"text": "c"}']
    records, report = load_prompts(write(tmp_path, "p.jsonl", lines), skip_bad=True)
    assert [r.messages[0]["content"] for r in records] == ["a", "b"]
    assert (report.kept, report.skipped) == (2, 3)
    assert report.reasons == {"not valid JSON": 2, "needs exactly one of 'prompt' or 'messages'": 1}
    assert report.first_lines["not valid JSON"] == 2
    assert report.ignored_keys == {"lang": 1}
    assert "kept 2, skipped 3 (not valid JSON x2 (first at line 2);" in report.summary()


def test_file_with_no_usable_record_is_an_error_naming_it(tmp_path):
    path = write(tmp_path, "p.jsonl", ["{oops"])
    with pytest.raises(DatasetError, match=f"^{path}: kept 0, skipped 1 .*; no usable records$"):
        load_prompts(path, skip_bad=True)


def test_missing_file_is_a_one_line_error_naming_it(tmp_path):
    missing = tmp_path / "nope.jsonl"
    for loader in (load_prompts, load_batch, load_sharegpt):
        with pytest.raises(DatasetError, match=f"^{missing}: cannot read \\(FileNotFoundError\\)"):
            loader(missing)


def test_batch_lines_keep_their_bodies_and_custom_ids():
    records, report = load_batch(SAMPLES / "batch.jsonl")
    originals = [json.loads(line) for line in (SAMPLES / "batch.jsonl").read_text().splitlines()]
    assert report.kept == len(originals) == 4
    for record, original in zip(records, originals, strict=True):
        assert record.custom_id == original["custom_id"]
        assert record.to_body() == original["body"]
        assert json.dumps(record.to_body(), sort_keys=True) == json.dumps(original["body"], sort_keys=True)
    assert records[2].expected_output_tokens == 1000
    assert records[3].expected_output_tokens == 128  # from max_completion_tokens


def test_batch_body_fields_win_over_run_defaults():
    records, _ = load_batch(SAMPLES / "batch.jsonl")
    body = records[0].to_body(model="other", stream=True)
    assert body["model"] == "qwen3-vl-flash"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "max_tokens" not in body
    assert "max_tokens" not in records[3].to_body(stream=False)  # it has max_completion_tokens


GOOD_BODY = {"messages": [{"role": "user", "content": "hi"}]}


def batch_line(**changes):
    line = {"custom_id": "9", "method": "POST", "url": "/v1/chat/completions", "body": GOOD_BODY, **changes}
    return json.dumps({key: value for key, value in line.items() if value is not None})


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"custom_id": None}, "'custom_id' is not a non-empty string"),
        ({"custom_id": "1"}, "duplicate custom_id '1'"),
        ({"method": "GET"}, "method 'GET': accepted: 'POST'"),
        ({"url": "/v1/embeddings"}, "url '/v1/embeddings': accepted: '/v1/chat/completions'"),
        ({"body": []}, "'body' is not a JSON object"),
        ({"body": {"model": "m"}}, "'messages' is not a non-empty list"),
        ({"body": {**GOOD_BODY, "max_tokens": -1}}, "'max_tokens' -1: accepted: an integer >= 1"),
    ],
)
def test_bad_batch_line_is_named_by_file_and_line(tmp_path, changes, reason):
    path = write(tmp_path, "b.jsonl", [batch_line(custom_id="1"), batch_line(**changes)])
    with pytest.raises(DatasetError, match=f"^{path}:2: {reason}"):
        load_batch(path)


def test_sample_sharegpt_gives_user_turns_and_reference_replies():
    conversations, report = load_sharegpt(SAMPLES / "sharegpt.json")
    assert report.kept == 3
    first, second, third = conversations
    assert first.user_turns[1] == "How many requests per level?"
    assert first.user_turns[0].startswith("I want to benchmark")
    assert len(first.reference_replies) == 2 and first.conversation_id == "conv-1"
    assert second.system == "You are a patient tutor." and len(second.user_turns) == 2
    assert len(second.reference_replies) == 1
    assert third.user_turns == ("Give me one word that rhymes with token.",)


def test_sharegpt_jsonl_is_read_too(tmp_path):
    line = json.dumps({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]})
    conversations, _ = load_sharegpt(write(tmp_path, "s.jsonl", [line, line]))
    assert [c.user_turns for c in conversations] == [("hi",), ("hi",)]


def test_bad_sharegpt_item_in_a_json_array_is_named_by_its_line(tmp_path):
    good = {"conversations": [{"from": "human", "value": "hi"}]}
    bad = {"conversations": [{"from": "gpt", "value": "I speak first"}, {"from": "human", "value": "hi"}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps([good, good, bad], indent=2))
    bad_line = [number for number, line in enumerate(path.read_text().splitlines(), 1) if line == "  {"][2]
    reason = "turn 1 is 'assistant' where 'user' was expected"
    with pytest.raises(DatasetError, match=f"^{path}:{bad_line}: {reason}$"):
        load_sharegpt(path)
    conversations, report = load_sharegpt(path, skip_bad=True)
    assert (len(conversations), report.skipped, report.first_lines) == (2, 1, {reason: bad_line})


def test_broken_json_array_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('[\n  {"conversations": []},\n  {"conversations": [}\n]')
    with pytest.raises(DatasetError, match=f"^{path}:3: not valid JSON"):
        load_sharegpt(path, skip_bad=True)


def test_a_missing_comma_after_many_items_is_named_by_its_line(tmp_path):
    item = {"conversations": [{"from": "human", "value": "hi"}]}
    text = json.dumps([item] * 50, indent=1)
    lines = text.splitlines()
    cut = max(i for i, line in enumerate(lines) if line == " },")  # the comma after the 49th item
    lines[cut] = " }"
    path = tmp_path / "s.json"
    path.write_text("\n".join(lines))
    with pytest.raises(DatasetError, match=f"^{path}:{cut + 2}: not valid JSON \\(expected ','"):
        load_sharegpt(path)
    bad = {"conversations": [{"from": "gpt", "value": "first"}]}
    path.write_text(json.dumps([item] * 30 + [bad] + [item] * 30 + [bad], indent=1))
    first_bad = [n for n, line in enumerate(path.read_text().splitlines(), 1) if line == " {"][30]
    conversations, report = load_sharegpt(path, skip_bad=True)
    assert len(conversations) == 60 and report.skipped == 2
    assert list(report.first_lines.values()) == [first_bad]


@pytest.mark.parametrize(
    ("turns", "reason"),
    [
        ([], "'conversations' is not a non-empty list"),
        ([{"from": "robot", "value": "x"}], "turn 1 'from' 'robot': accepted: human, user, gpt"),
        ([{"from": "human", "value": ""}], "turn 1 'value' is not a non-empty string"),
        ([{"from": "system", "value": "be nice"}], "no user turn"),
        ([{"from": "human", "value": "a"}, {"from": "user", "value": "b"}], "turn 2 is 'user' where 'as"),
    ],
)
def test_bad_sharegpt_conversation_reasons(tmp_path, turns, reason):
    path = write(tmp_path, "s.jsonl", [json.dumps({"conversations": turns})])
    with pytest.raises(DatasetError, match=f"^{path}:1: {reason}"):
        load_sharegpt(path)
