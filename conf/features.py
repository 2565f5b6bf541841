"""Request features: body fields the run adds to every request (tools, JSON mode, sampling, extras).

Chat Completions takes, besides the messages:

- ``tools``: a list of ``{"type": "function", "function": {"name", "description", "parameters"}}``,
  and ``tool_choice``: ``"auto"``, ``"none"``, ``"required"`` or
  ``{"type": "function", "function": {"name": NAME}}``. A model that calls a tool streams
  ``tool_calls`` deltas (the name, then the arguments in pieces) and ends with
  ``finish_reason: "tool_calls"``; those deltas are output, timed and counted like content.
- ``response_format``: ``{"type": "json_object"}`` (JSON mode), ``{"type": "json_schema",
  "json_schema": {"name", "schema"}}`` or ``{"type": "text"}``.
- ``reasoning_effort`` (``low``, ``medium``, ``high``, ...), ``n`` (choices per request), ``stop``
  (a list of strings), ``seed`` (the server's sampling seed).

``--extra-body`` adds any other field as it is: servers' own switches such as
``enable_thinking`` and ``thinking_budget`` (Qwen3-style thinking), ``chat_template_kwargs``,
``ignore_eos`` and ``min_tokens`` (vLLM), ``fullTextEnabled`` (MindIE's ``full_text`` in each chunk).
Every parser here raises ``ValueError`` with one line naming the option and what it accepts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

TOOL_CHOICES = ("auto", "none", "required")
FORMATS = ("text", "json_object")
RESERVED = {"messages": "the run builds them", "prompt": "the run builds it", "model": "use --model",
            "stream": "use --no-stream"}
"""Fields ``--extra-body`` may not set, and what sets them instead."""
CHAT_ONLY = ("tools", "tool_choice", "response_format", "reasoning_effort")


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    """The fields the run adds to every body, as they will be sent."""

    fields: dict[str, Any] = field(default_factory=dict)

    def apply(self, body: dict[str, Any], keep: Collection[str] = ()) -> dict[str, Any]:
        """Add the fields to ``body`` (they replace what the run generated, ``max_tokens`` or
        ``stream_options`` say), except those in ``keep``: a dataset line's own fields win."""
        for key, value in self.fields.items():
            if key not in keep:
                body[key] = value
        return body

    def __bool__(self) -> bool:
        return bool(self.fields)


def load_json(option: str, text: str) -> Any:
    """``text`` as JSON, or the JSON in the file ``text`` names (when it is no JSON itself)."""
    text = text.strip()
    if text[:1] not in ("{", "[", '"') and Path(text).is_file():
        try:
            text = Path(text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{option} {text!r}: cannot read the file ({exc})") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{option}: not valid JSON ({exc}); expected inline JSON or a .json file") from None


def parse_extra_body(text: str | None) -> dict[str, Any]:
    """``--extra-body``: a JSON object (inline or a file) whose fields are sent as they are."""
    if not text or not text.strip():
        return {}
    extra = load_json("--extra-body", text)
    if not isinstance(extra, dict):
        raise ValueError(f"--extra-body: expected a JSON object, got {type(extra).__name__}")
    for key, why in RESERVED.items():
        if key in extra:
            raise ValueError(f"--extra-body: {key!r} is not set here ({why})")
    return extra


def parse_tools(text: str | None) -> list[dict]:
    """``--tools``: a JSON list of function tools (inline or a file)."""
    if not text or not text.strip():
        return []
    tools = load_json("--tools", text)
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list) or not tools:
        raise ValueError('--tools: expected a JSON list of tools, each {"type": "function", "function": ...}')
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f"--tools: tool {i} has no function name; expected "
                             '{"type": "function", "function": {"name": ..., "parameters": {...}}}')
        tool.setdefault("type", "function")
    return tools


def parse_tool_choice(text: str | None, tools: list[dict]) -> str | dict | None:
    """``--tool-choice``: auto, none, required, or the name of one of ``--tools``' functions."""
    choice = (text or "").strip()
    if not choice:
        return None
    if not tools:
        raise ValueError(f"--tool-choice {choice}: there are no --tools to choose from")
    if choice in TOOL_CHOICES:
        return choice
    names = [tool["function"]["name"] for tool in tools]
    if choice not in names:
        raise ValueError(f"--tool-choice {choice!r}: expected {', '.join(TOOL_CHOICES)} or a tool's name "
                         f"({', '.join(names)})")
    return {"type": "function", "function": {"name": choice}}


def parse_response_format(text: str | None) -> dict | None:
    """``--response-format``: text, json_object (JSON mode), a whole ``response_format`` object,
    or a JSON schema (inline or a file) sent as ``json_schema``."""
    value = (text or "").strip()
    if not value:
        return None
    if value in FORMATS:
        return {"type": value}
    schema = load_json("--response-format", value)
    if not isinstance(schema, dict):
        raise ValueError("--response-format: expected text, json_object, or a JSON schema object")
    if isinstance(schema.get("type"), str) and schema["type"] in (*FORMATS, "json_schema"):
        return schema
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def parse_stop(values: Iterable[str] | str | None) -> list[str]:
    """``--stop``: stop sequences, each given once (the flag repeats; a conf file takes a list)."""
    if values is None:
        return []
    stops = [values] if isinstance(values, str) else list(values)
    if any(not isinstance(s, str) or not s for s in stops):
        raise ValueError("--stop: expected non-empty strings")
    return stops


def build_features(
    extra_body: str | None = None, tools: str | None = None, tool_choice: str | None = None,
    response_format: str | None = None, reasoning_effort: str | None = None, n: int = 0,
    stop: Iterable[str] | str | None = None, seed: int | None = None, chat: bool = True,
) -> RequestFeatures:
    """Every feature option checked and turned into body fields (``chat``: the endpoint is
    ``/v1/chat/completions``; the others take no tools, JSON mode or reasoning effort)."""
    fields: dict[str, Any] = {}
    listed = parse_tools(tools)
    if listed:
        fields["tools"] = listed
    choice = parse_tool_choice(tool_choice, listed)
    if choice is not None:
        fields["tool_choice"] = choice
    response = parse_response_format(response_format)
    if response is not None:
        fields["response_format"] = response
    effort = (reasoning_effort or "").strip()
    if effort:
        fields["reasoning_effort"] = effort
    if n < 0:
        raise ValueError(f"--n {n}: expected choices per request >= 1 (0: not sent)")
    if n:
        fields["n"] = n
    stops = parse_stop(stop)
    if stops:
        fields["stop"] = stops
    if seed is not None:
        fields["seed"] = seed
    if not chat:
        for key in CHAT_ONLY:
            if key in fields:
                raise ValueError(f"--{key.replace('_', '-')}: /v1/completions takes no {key} (chat only)")
    return RequestFeatures({**fields, **parse_extra_body(extra_body)})
