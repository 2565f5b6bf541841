"""Dataset files, every line validated: prompt JSONL, OpenAI Batch JSONL, ShareGPT conversations.

A bad line raises DatasetError "FILE:LINE: reason", or with `skip_bad=True` is skipped and counted in
the LoadReport returned beside the records. A file that cannot be read, is not JSON, or keeps no
record raises DatasetError naming the file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from payloads.errors import DatasetError
from payloads.request import SampleRequest
from payloads.tokenizer import chat_template_overhead, content_tokens

T = TypeVar("T")
CHAT_URL = "/v1/chat/completions"
ROLES = ("system", "developer", "user", "assistant", "tool")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "system": "system"}
PROMPT_KEYS = {"prompt", "messages", "max_tokens", "custom_id", "id"}
BATCH_KEYS = {"custom_id", "method", "url", "body"}


class BadLine(Exception):
    """Why one line (or JSON-array item) is not a valid record."""


@dataclass
class LoadReport:
    """How many records a file gave, and how many lines were skipped and why."""

    path: str
    kept: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    """Skip reason -> lines skipped for it."""
    first_lines: dict[str, int] = field(default_factory=dict)
    """Skip reason -> first line number where it was seen."""
    ignored_keys: Counter[str] = field(default_factory=Counter)
    """Keys of kept records that the loader does not use."""

    def skip(self, reason: str, line: int) -> None:
        self.skipped += 1
        self.reasons[reason] += 1
        self.first_lines.setdefault(reason, line)

    def summary(self) -> str:
        """One line: kept, skipped and the reasons."""
        text = f"{self.path}: kept {self.kept}, skipped {self.skipped}"
        if self.reasons:
            why = (f"{r} x{n} (first at line {self.first_lines[r]})" for r, n in self.reasons.items())
            text += f" ({'; '.join(why)})"
        return text


@dataclass(frozen=True, slots=True)
class ShareGPTConversation:
    """A ShareGPT conversation: the user turns to send, and the recorded replies (for output lengths)."""

    user_turns: tuple[str, ...]
    reference_replies: tuple[str, ...]
    system: str | None = None
    conversation_id: str | None = None


def load_prompts(
    path: str | Path, *, skip_bad: bool = False, tokenizer: Any = None
) -> tuple[list[SampleRequest], LoadReport]:
    """JSONL lines {"prompt": str} or {"messages": [...]}, optional "max_tokens" and "custom_id"/"id".

    With a tokenizer, prompt_tokens and template_overhead are measured; otherwise they are None.
    """
    report = LoadReport(str(path))

    def parse(obj: Any) -> SampleRequest:
        record = _prompt_record(obj, tokenizer)
        report.ignored_keys.update(set(obj) - PROMPT_KEYS)
        return record

    return _collect(path, _jsonl_items(path), parse, skip_bad, report), report


def load_batch(
    path: str | Path, *, skip_bad: bool = False, tokenizer: Any = None
) -> tuple[list[SampleRequest], LoadReport]:
    """OpenAI Batch input lines {"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}.

    Bodies are kept as they are: `SampleRequest.to_body()` gives each one back unchanged.
    """
    report = LoadReport(str(path))
    seen: set[str] = set()

    def parse(obj: Any) -> SampleRequest:
        record = _batch_record(obj, tokenizer, seen)
        seen.add(record.custom_id)
        report.ignored_keys.update(set(obj) - BATCH_KEYS)
        return record

    return _collect(path, _jsonl_items(path), parse, skip_bad, report), report


def load_sharegpt(
    path: str | Path, *, skip_bad: bool = False
) -> tuple[list[ShareGPTConversation], LoadReport]:
    """ShareGPT conversations, a JSON array or JSONL of {"conversations": [{"from", "value"}, ...]}."""
    text = _read(path)
    items = _json_array_items(path, text) if text.lstrip().startswith("[") else _lines_items(text)
    report = LoadReport(str(path))
    return _collect(path, items, _sharegpt_record, skip_bad, report), report


def _collect(
    path: str | Path, items: Iterator[tuple[int, Any]], parse: Callable[[Any], T], skip_bad: bool,
    report: LoadReport,
) -> list[T]:
    records: list[T] = []
    for line, obj in items:
        try:
            if isinstance(obj, BadLine):
                raise obj
            records.append(parse(obj))
        except BadLine as bad:
            if not skip_bad:
                raise DatasetError(f"{path}:{line}: {bad}") from None
            report.skip(str(bad), line)
    report.kept = len(records)
    if not records:
        raise DatasetError(f"{report.summary()}; no usable records")
    return records


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = type(exc).__name__
        raise DatasetError(f"{path}: cannot read ({reason}); pass an existing UTF-8 file") from None


def _jsonl_items(path: str | Path) -> Iterator[tuple[int, Any]]:
    return _lines_items(_read(path))


def _lines_items(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or BadLine) for every non-blank line."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError:
            yield number, BadLine("not valid JSON")


def _json_array_items(path: str | Path, text: str) -> Iterator[tuple[int, Any]]:
    """(line number, item) of a JSON array; a broken array cannot be read past its break.

    Line numbers are counted on from the previous item, not from the top each time: counted
    from the top, a 67 MB array of 20,000 conversations took 346 s to read (each count a scan
    of everything before the item).
    """
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    line, counted = 1, 0

    def line_at(at: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, at)
        counted = at
        return line

    while True:
        position = _skip_space(text, position)
        if text.startswith("]", position):
            return
        try:
            item, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        yield line_at(position), item
        position = _skip_space(text, end)
        if text.startswith(",", position):
            position += 1
        elif not text.startswith("]", position):
            where = line_at(position)
            raise DatasetError(f"{path}:{where}: not valid JSON (expected ',' or ']' in the array)")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _prompt_record(obj: Any, tokenizer: Any) -> SampleRequest:
    if not isinstance(obj, dict):
        raise BadLine("not a JSON object")
    if ("prompt" in obj) == ("messages" in obj):
        raise BadLine("needs exactly one of 'prompt' or 'messages'")
    if "prompt" in obj:
        if not isinstance(obj["prompt"], str) or not obj["prompt"].strip():
            raise BadLine("'prompt' is not a non-empty string")
        messages = [{"role": "user", "content": obj["prompt"]}]
    else:
        messages = _checked_messages(obj["messages"])
    custom_id = obj.get("custom_id", obj.get("id"))
    return _measured(messages, tokenizer, _max_tokens(obj, "max_tokens"), _optional_id(custom_id), {})


def _batch_record(obj: Any, tokenizer: Any, seen: set[str]) -> SampleRequest:
    if not isinstance(obj, dict):
        raise BadLine("not a JSON object")
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise BadLine("'custom_id' is not a non-empty string")
    if custom_id in seen:
        raise BadLine(f"duplicate custom_id {custom_id!r}")
    if obj.get("method") != "POST":
        raise BadLine(f"method {obj.get('method')!r}: accepted: 'POST'")
    if obj.get("url") != CHAT_URL:
        raise BadLine(f"url {obj.get('url')!r}: accepted: {CHAT_URL!r}")
    body = obj.get("body")
    if not isinstance(body, dict):
        raise BadLine("'body' is not a JSON object")
    messages = _checked_messages(body.get("messages"))
    limit = _max_tokens(body, "max_tokens") or _max_tokens(body, "max_completion_tokens")
    extra = {key: value for key, value in body.items() if key != "messages"}
    return _measured(messages, tokenizer, limit, custom_id, extra)


def _measured(
    messages: list[dict], tokenizer: Any, limit: int | None, custom_id: str | None, extra: dict
) -> SampleRequest:
    if tokenizer is None:
        return SampleRequest(messages, None, None, limit, custom_id, extra)
    tokens, overhead = content_tokens(tokenizer, messages), chat_template_overhead(tokenizer, messages)
    return SampleRequest(messages, tokens, overhead, limit, custom_id, extra)


def _checked_messages(messages: Any) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise BadLine("'messages' is not a non-empty list")
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise BadLine(f"message {number} is not a JSON object")
        if message.get("role") not in ROLES:
            raise BadLine(f"message {number} role {message.get('role')!r}: accepted: {', '.join(ROLES)}")
        if not _valid_content(message):
            raise BadLine(f"message {number} 'content' is not a string or a list of typed parts")
    return messages


def _valid_content(message: dict) -> bool:
    content = message.get("content")
    if isinstance(content, str):
        return True
    if isinstance(content, list):
        return bool(content) and all(isinstance(part, dict) and "type" in part for part in content)
    return content is None and message["role"] == "assistant" and "tool_calls" in message


def _max_tokens(obj: dict, key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadLine(f"{key!r} {value!r}: accepted: an integer >= 1")
    return value


def _optional_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadLine(f"id {value!r}: accepted: a string or an integer")
    return str(value)


def _sharegpt_record(obj: Any) -> ShareGPTConversation:
    if not isinstance(obj, dict):
        raise BadLine("not a JSON object")
    turns = obj.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise BadLine("'conversations' is not a non-empty list")
    roles_values = [_sharegpt_turn(number, turn) for number, turn in enumerate(turns, start=1)]
    start = 1 if roles_values[0][0] == "system" else 0
    dialogue = roles_values[start:]
    if not dialogue:
        raise BadLine("no user turn")
    for offset, (role, _) in enumerate(dialogue):
        expected = "assistant" if offset % 2 else "user"
        if role != expected:
            raise BadLine(f"turn {start + offset + 1} is {role!r} where {expected!r} was expected")
    system = roles_values[0][1] if start else None
    users = tuple(value for role, value in dialogue if role == "user")
    replies = tuple(value for role, value in dialogue if role == "assistant")
    return ShareGPTConversation(users, replies, system, _optional_id(obj.get("id")))


def _sharegpt_turn(number: int, turn: Any) -> tuple[str, str]:
    if not isinstance(turn, dict):
        raise BadLine(f"turn {number} is not a JSON object")
    role = SHAREGPT_ROLES.get(turn.get("from"))
    if role is None:
        raise BadLine(f"turn {number} 'from' {turn.get('from')!r}: accepted: {', '.join(SHAREGPT_ROLES)}")
    value = turn.get("value")
    if not isinstance(value, str) or (role == "user" and not value.strip()):
        raise BadLine(f"turn {number} 'value' is not a non-empty string")
    return role, value
