"""Request bodies -> typed requests, or BadRequest (HTTP 400 with an OpenAI-style error body).

Like vLLM, unknown extra fields are accepted and ignored; the fields the emulator reads are checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from emulator.features import FeatureError, Features, bool_field, int_field, parse_features

# Roles and how the chat template sees them ("developer" is OpenAI's newer name for "system").
TEMPLATE_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant",
                  "tool": "tool"}
# Body fields through which clients send images; /v1/completions takes none of them.
IMAGE_KEYS = ("image_url", "images", "multi_modal_data")


class BadRequest(Exception):
    """A malformed request; `param` names the offending field, as OpenAI and vLLM do."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def body(self) -> bytes:
        error = {"message": self.message, "type": "BadRequestError", "param": self.param, "code": 400}
        return orjson.dumps({"error": error})


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image_url part: `kind` is "base64" for data: URIs, "url" for http(s) URLs."""

    url: str
    kind: str


@dataclass(frozen=True, slots=True)
class GenOptions:
    """What every generation request asks for, whatever its endpoint."""

    max_tokens: int
    stream: bool
    include_usage: bool
    model: str = ""
    features: Features = Features()
    """``n``, ``stop``, ``seed``, tools, thinking switches (``emulator.features``)."""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A checked /v1/chat/completions body: text-only messages plus the images they carried."""

    messages: tuple[tuple[str, str], ...]
    images: tuple[ImageRef, ...]
    options: GenOptions


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """A checked /v1/completions body: a prompt string, or a count of prompt token ids."""

    prompt: str | None
    prompt_ids: int
    options: GenOptions


def parse_chat(raw: bytes, default_max_tokens: int) -> ChatRequest:
    body = _load(raw)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list of message objects", "messages")
    texts: list[tuple[str, str]] = []
    images: list[ImageRef] = []
    for i, message in enumerate(messages):
        role, text, refs = _message(i, message)
        texts.append((role, text))
        images.extend(refs)
    return ChatRequest(tuple(texts), tuple(images), _options(body, default_max_tokens))


def parse_completion(raw: bytes, default_max_tokens: int) -> CompletionRequest:
    body = _load(raw)
    for key in IMAGE_KEYS:
        if key in body:
            raise BadRequest(f"/v1/completions takes no {key!r}: send images to /v1/chat/completions", key)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    options = _options(body, default_max_tokens)
    if isinstance(prompt, str):
        return CompletionRequest(prompt, 0, options)
    if isinstance(prompt, list) and prompt and all(_is_int(t) and t >= 0 for t in prompt):
        return CompletionRequest(None, len(prompt), options)
    raise BadRequest("prompt must be a string, a list of one string, or a list of token ids", "prompt")


def _load(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _message(i: int, message: Any) -> tuple[str, str, list[ImageRef]]:
    if not isinstance(message, dict):
        raise BadRequest(f"messages[{i}] must be an object", "messages")
    role = message.get("role")
    if role not in TEMPLATE_ROLES:
        raise BadRequest(
            f"messages[{i}].role {role!r} is not accepted; accepted: {', '.join(TEMPLATE_ROLES)}", "messages"
        )
    content = message.get("content")
    if content is None or isinstance(content, str):
        return role, content or "", []
    if not isinstance(content, list):
        raise BadRequest(f"messages[{i}].content must be a string or a list of parts", "messages")
    texts: list[str] = []
    images: list[ImageRef] = []
    for j, part in enumerate(content):
        kind, value = _part(f"messages[{i}].content[{j}]", part)
        if kind == "text":
            texts.append(value)
        else:
            images.append(ImageRef(value, "base64" if value.startswith("data:") else "url"))
    return role, "\n".join(texts), images


def _part(where: str, part: Any) -> tuple[str, str]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return "text", part["text"]
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str) and url.startswith(("data:", "http://", "https://")):
            return "image_url", url
        raise BadRequest(f"{where}.image_url.url must be a data: URI or an http(s) URL", "messages")
    accepted = "{'type': 'text', 'text': str} or {'type': 'image_url', 'image_url': {'url': str}}"
    raise BadRequest(f"{where} must be {accepted}", "messages")


def _options(body: dict[str, Any], default_max_tokens: int) -> GenOptions:
    try:
        return _read_options(body, default_max_tokens)
    except FeatureError as exc:
        raise BadRequest(exc.message, exc.param) from None


def _read_options(body: dict[str, Any], default_max_tokens: int) -> GenOptions:
    max_tokens = int_field(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = int_field(body, "max_tokens", 1)
    min_tokens = int_field(body, "min_tokens", 0)
    if min_tokens is not None and max_tokens is not None and min_tokens > max_tokens:
        raise BadRequest(f"min_tokens must be at most max_tokens ({max_tokens}), got {min_tokens}.",
                         "min_tokens")
    stream = bool_field(body, "stream")
    if not isinstance(body.get("model", ""), str):
        raise BadRequest("model must be a string", "model")
    ignore_eos = body.get("ignore_eos")
    if ignore_eos is not None and not isinstance(ignore_eos, bool):
        raise BadRequest("ignore_eos must be a boolean", "ignore_eos")
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise BadRequest("stream_options must be an object", "stream_options")
    include_usage = bool_field(stream_options or {}, "include_usage")
    features = parse_features(body)
    model = body.get("model") or ""
    return GenOptions(max_tokens or default_max_tokens, stream, include_usage, model, features)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
