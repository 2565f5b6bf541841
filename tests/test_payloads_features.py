"""Request features: tools, JSON mode, sampling fields and extra body fields, as bodies are built."""

import json
from types import SimpleNamespace

import pytest

from conf.settings import SettingsError, from_options
from payloads.features import RequestFeatures, build_features
from payloads.request import SampleRequest
from plugin.runtime import Runtime

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object",
                                                           "properties": {"city": {"type": "string"}}}}}


def body(**options) -> dict:
    """The body the run sends for a two-word prompt, with these options set."""
    settings = from_options(SimpleNamespace(model="m", **options), environ={})
    runtime = Runtime(settings)
    return runtime.body_for(SampleRequest([{"role": "user", "content": "hi there"}], 2, 8, 16))


def test_tools_and_a_named_tool_choice_are_sent():
    sent = body(tools=json.dumps([WEATHER]), tool_choice="get_weather")
    assert sent["tools"] == [WEATHER]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["messages"] and sent["model"] == "m" and sent["stream"] is True


def test_tools_can_come_from_a_file_and_tool_choice_from_the_keywords(tmp_path):
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([WEATHER]))
    sent = body(tools=str(path), tool_choice="required")
    assert sent["tools"][0]["function"]["name"] == "get_weather" and sent["tool_choice"] == "required"


def test_json_mode_and_a_json_schema_are_response_formats(tmp_path):
    assert body(response_format="json_object")["response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    sent = body(response_format=json.dumps(schema))["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    whole = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    assert body(response_format=json.dumps(whole))["response_format"] == whole


def test_reasoning_effort_n_stop_and_seed_are_sent_as_given():
    sent = body(reasoning_effort="low", n=2, stop=["\n\n", "END"], sampling_seed=42)
    assert (sent["reasoning_effort"], sent["n"], sent["seed"]) == ("low", 2, 42)
    assert sent["stop"] == ["\n\n", "END"]


def test_nothing_is_added_when_no_feature_is_asked_for():
    sent = body()
    assert set(sent) == {"model", "messages", "max_tokens", "stream", "stream_options"}


def test_extra_body_fields_pass_through_as_they_are():
    extra = {"enable_thinking": True, "thinking_budget": 128, "ignore_eos": True, "min_tokens": 16,
             "fullTextEnabled": True, "chat_template_kwargs": {"enable_thinking": False},
             "stream_options": {"include_usage": True, "continuous_usage_stats": True}}
    sent = body(extra_body=json.dumps(extra))
    for key, value in extra.items():
        assert sent[key] == value


def test_a_dataset_lines_own_fields_win_over_the_runs():
    features = RequestFeatures({"temperature": 0.0, "seed": 1})
    line = SampleRequest([{"role": "user", "content": "x"}], None, None, None,
                         body_extra={"temperature": 0.7})
    sent = features.apply(line.to_body(), keep=line.body_extra)
    assert sent["temperature"] == 0.7 and sent["seed"] == 1


@pytest.mark.parametrize(("options", "message"), [
    ({"extra_body": "{nope"}, "--extra-body: not valid JSON"),
    ({"extra_body": "[1, 2]"}, "--extra-body: expected a JSON object, got list"),
    ({"extra_body": '{"model": "x"}'}, "--extra-body: 'model' is not set here (use --model)"),
    ({"extra_body": '{"stream": false}'}, "--extra-body: 'stream' is not set here (use --no-stream)"),
    ({"tools": '[{"type": "function"}]'}, "--tools: tool 0 has no function name"),
    ({"tool_choice": "auto"}, "--tool-choice auto: there are no --tools to choose from"),
    ({"tools": json.dumps([WEATHER]), "tool_choice": "other"}, "--tool-choice 'other': expected auto, none"),
    ({"response_format": "yaml"}, "--response-format: not valid JSON"),
    ({"n": -1}, "--n -1: expected a value >= 0"),
    ({"sampling_seed": "x"}, "--sampling-seed 'x': expected a whole number"),
    ({"endpoint": "completions", "tools": json.dumps([WEATHER])}, "--tools: /v1/completions takes no tools"),
])
def test_a_bad_feature_is_one_line_naming_the_option(options, message):
    with pytest.raises(SettingsError) as caught:
        from_options(SimpleNamespace(**options), environ={})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_completions_endpoint_takes_n_stop_and_seed():
    features = build_features(n=3, stop=["x"], seed=7, chat=False)
    assert features.fields == {"n": 3, "stop": ["x"], "seed": 7}
