"""The request features the emulator reads besides messages and lengths, checked as vLLM checks them.

What each one does here:

- ``n``: that many choices, each its own words (streamed side by side, one chunk per choice per
  decode step, ``index`` telling them apart); ``usage`` counts every choice's tokens.
- ``stop`` (a string or a list): the answer ends before the first stop string it would contain,
  with ``finish_reason: "stop"``.
- ``seed``: the same seed gives the same words.
- ``tools`` with ``tool_choice`` ``"required"`` or a named function: the answer is a call of
  that function (the first tool for ``"required"``), streamed as ``tool_calls`` deltas (the name,
  then the arguments in pieces), ending with ``finish_reason: "tool_calls"``; ``"auto"`` and
  ``"none"`` answer in text.
- ``enable_thinking`` (also inside ``chat_template_kwargs``) and ``thinking_budget``: with
  ``--reasoning-tokens``, false turns reasoning off and a budget caps it.
- ``fullTextEnabled``: with ``--mindie``, each chunk carries ``full_text``.
- ``response_format`` and ``reasoning_effort`` are checked and accepted; the answer does not change.

Each accepted field's name is kept (``Features.seen``) for the request log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOOL_CHOICES = ("auto", "none", "required")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
EFFORTS = ("none", "minimal", "low", "medium", "high")
LOGGED = ("n", "stop", "seed", "tools", "tool_choice", "response_format", "reasoning_effort",
          "enable_thinking", "thinking_budget", "chat_template_kwargs", "fullTextEnabled", "ignore_eos",
          "min_tokens")
"""Body fields named in the request log when a request carries them."""


class FeatureError(ValueError):
    """A bad feature field: ``message`` for the 400 body, ``param`` the field's name."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class Features:
    """What a request asks for beyond its messages and length."""

    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tool: str | None = None
    """The function the answer calls (None: the answer is text)."""
    thinking: bool | None = None
    """``enable_thinking`` as sent (None: not sent)."""
    thinking_budget: int | None = None
    full_text: bool = False
    seen: tuple[str, ...] = ()


def parse_features(body: dict[str, Any]) -> Features:
    """The features of a request body; FeatureError names the first bad field."""
    if not _any_feature(body):
        return Features()
    _check_formats(body)
    thinking, budget = _thinking(body)
    return Features(
        n=int_field(body, "n", 1) or 1,
        stop=_stop(body.get("stop")),
        seed=int_field(body, "seed", None),
        tool=_tool(body),
        thinking=thinking,
        thinking_budget=budget,
        full_text=bool_field(body, "fullTextEnabled"),
        seen=tuple(key for key in LOGGED if body.get(key) is not None),
    )


def _any_feature(body: dict[str, Any]) -> bool:
    return any(body.get(key) is not None for key in LOGGED)


def int_field(body: dict[str, Any], name: str, minimum: int | None) -> int | None:
    """``body[name]``: None when absent, else a whole number of at least ``minimum``
    (:class:`FeatureError` otherwise)."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise FeatureError(f"{name} must be an integer, got {value!r}.", name)
    if minimum is not None and value < minimum:
        raise FeatureError(f"{name} must be at least {minimum}, got {value}.", name)
    return value


def bool_field(body: dict[str, Any], name: str) -> bool:
    """``body[name]`` as a boolean (False when absent; :class:`FeatureError` for another type)."""
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise FeatureError(f"{name} must be a boolean, got {value!r}.", name)
    return bool(value)


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise FeatureError("stop must be a string or a list of strings.", "stop")
    return tuple(s for s in stops if s)


def _tool(body: dict[str, Any]) -> str | None:
    """The function named by ``tool_choice`` (the first tool for ``required``), checked against ``tools``."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    names = _tool_names(tools)
    if choice is None:
        return None
    if not names:
        raise FeatureError("When using `tool_choice`, `tools` must be set.", "tool_choice")
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            raise FeatureError(f"tool_choice must be one of {', '.join(TOOL_CHOICES)} or a function, "
                               f"got {choice!r}.", "tool_choice")
        return names[0] if choice == "required" else None
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if name not in names:
        raise FeatureError(f"tool_choice names a function not in tools: {name!r}.", "tool_choice")
    return name


def _tool_names(tools: Any) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise FeatureError("tools must be a list of tool objects.", "tools")
    names = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise FeatureError(f"tools[{i}].function.name must be a non-empty string.", "tools")
        names.append(name)
    return names


def _check_formats(body: dict[str, Any]) -> None:
    """``response_format`` and ``reasoning_effort``: checked, then accepted as they are."""
    response = body.get("response_format")
    if response is not None:
        kind = response.get("type") if isinstance(response, dict) else None
        if kind not in RESPONSE_FORMATS:
            raise FeatureError(f"response_format.type must be one of {', '.join(RESPONSE_FORMATS)}.",
                               "response_format")
        if kind == "json_schema" and not isinstance(response.get("json_schema"), dict):
            raise FeatureError("response_format json_schema needs a json_schema object.", "response_format")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        raise FeatureError(f"reasoning_effort must be one of {', '.join(EFFORTS)}, got {effort!r}.",
                           "reasoning_effort")


def _thinking(body: dict[str, Any]) -> tuple[bool | None, int | None]:
    """``enable_thinking`` (top level, or in ``chat_template_kwargs`` as vLLM passes it to the
    template) and ``thinking_budget``."""
    kwargs = body.get("chat_template_kwargs")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise FeatureError("chat_template_kwargs must be an object.", "chat_template_kwargs")
    thinking = body.get("enable_thinking", (kwargs or {}).get("enable_thinking"))
    if thinking is not None and not isinstance(thinking, bool):
        raise FeatureError(f"enable_thinking must be a boolean, got {thinking!r}.", "enable_thinking")
    return thinking, int_field(body, "thinking_budget", 0)
