"""One typed settings object, built once from Locust's parsed options and the environment.

Nothing else reads the argparse Namespace: users, the client and the report get a
:class:`Settings`. Every bad value becomes a :class:`SettingsError` with one line naming
the value and what is accepted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payloads.errors import PayloadError
from payloads.image_supply import ImageOptions
from transport.http import Target

DEFAULT_HOST = "http://127.0.0.1:8000"
ENDPOINTS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


class SettingsError(ValueError):
    """A user mistake in options, environment or files; ``str()`` is the one-line message."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What a run sends, where, and how it is measured and reported."""

    target: Target
    model: str
    """Model name sent in each body; empty = ask the server's /v1/models at start."""
    endpoint: str
    """Request path: /v1/chat/completions or /v1/completions."""
    stream: bool = True
    include_usage: bool = True
    """Send ``stream_options.include_usage`` so servers that can, report token counts."""
    ignore_eos: bool = False
    max_tokens: int = 256
    """Output length asked for (``max_tokens``)."""
    input_len: int = 128
    """Prompt length in tokens (content, before the chat template)."""
    range_ratio: float = 0.0
    """Vary input and output lengths uniformly within +/- this ratio (as vLLM's random dataset)."""
    prefix_len: int = 0
    unique_prefix: bool = False
    tokenizer: str | None = None
    dataset: str | None = None
    dataset_format: str = "auto"
    dataset_skip_bad: bool = False
    """Skip bad dataset lines (and report how many and why) instead of stopping at the first."""
    conversations: str | None = None
    """ShareGPT file for multi-turn users (default: turns from the payload factory)."""
    turns: int = 3
    think_time: float = 0.0
    """Seconds a multi-turn user waits between turns."""
    seed: int = 0
    summary_json: str | None = None
    request_log: str | None = None
    """JSONL file with one line per request (Batch output shape plus timings)."""
    per_token_stats: bool = True
    connect_timeout: float = 10.0
    idle_timeout: float = 60.0
    first_token_timeout: float = 0.0
    request_timeout: float = 0.0
    verify_tls: bool = True
    drain_timeout: float = 30.0
    """Seconds requests in flight when the test stops get to finish before they are cancelled."""
    retries: int = 0
    """Re-send a 429/503 answer up to this many times (0 = never), after its Retry-After."""
    retry_max_wait: float = 30.0
    images: ImageOptions = field(default_factory=ImageOptions)
    text_only: bool = False
    """The target takes no images: image traffic is refused before the run starts."""
    api_key: str | None = field(default=None, repr=False)
    """Secret: never printed, never in reports (``repr`` leaves it out)."""

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def _positive(name: str, value: Any, kind: type = int, zero_ok: bool = False) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        expected = "a number" if kind is float else "a whole number"
        raise SettingsError(f"--{name} {value!r}: expected {expected}") from None
    if number < 0 or (number == 0 and not zero_ok):
        accepted = ">= 0" if zero_ok else "> 0"
        raise SettingsError(f"--{name} {value!r}: expected a value {accepted}")
    return number


def _ratio(name: str, value: Any) -> float:
    ratio = _positive(name, value, float, zero_ok=True)
    if ratio >= 1:
        raise SettingsError(f"--{name} {value!r}: expected a ratio in [0, 1)")
    return ratio


def read_api_key(env_name: str, key_file: str | None, environ: dict[str, str]) -> str | None:
    """The API key from ``--api-key-file`` or the environment variable named ``env_name``."""
    if key_file:
        path = Path(key_file)
        if not path.is_file():
            raise SettingsError(f"--api-key-file {key_file!r}: no such file")
        key = path.read_text().strip()
        if not key:
            raise SettingsError(f"--api-key-file {key_file!r}: the file is empty")
        return key
    return environ.get(env_name) or None


def from_options(options: Any, environ: dict[str, str] | None = None) -> Settings:
    """Build and validate :class:`Settings` from Locust's parsed options."""
    environ = dict(os.environ) if environ is None else environ
    get = lambda name, default=None: getattr(options, name, default)  # noqa: E731
    try:
        target = Target.parse(get("host") or DEFAULT_HOST)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    endpoint = get("endpoint", "chat")
    if endpoint not in ENDPOINTS:
        raise SettingsError(f"--endpoint {endpoint!r}: expected one of {', '.join(ENDPOINTS)}")
    return Settings(
        target=target,
        model=get("model") or "",
        endpoint=ENDPOINTS[endpoint],
        stream=not get("no_stream", False),
        include_usage=not get("no_include_usage", False),
        ignore_eos=bool(get("ignore_eos", False)),
        max_tokens=_positive("max-tokens", get("max_tokens", 256)),
        input_len=_positive("input-len", get("input_len", 128)),
        range_ratio=_ratio("range-ratio", get("range_ratio", 0.0)),
        prefix_len=_positive("prefix-len", get("prefix_len", 0), zero_ok=True),
        unique_prefix=bool(get("unique_prefix", False)),
        tokenizer=get("tokenizer") or None,
        dataset=get("dataset") or None,
        dataset_format=get("dataset_format", "auto"),
        dataset_skip_bad=bool(get("dataset_skip_bad", False)),
        conversations=get("conversations") or None,
        turns=_positive("turns", get("turns", 3)),
        think_time=_positive("think-time", get("think_time", 0.0), float, zero_ok=True),
        seed=_positive("seed", get("seed", 0), zero_ok=True),
        summary_json=get("summary_json") or None,
        request_log=get("request_log") or None,
        per_token_stats=not get("no_per_token_stats", False),
        connect_timeout=_positive("connect-timeout", get("connect_timeout", 10.0), float),
        idle_timeout=_positive("idle-timeout", get("idle_timeout", 60.0), float),
        first_token_timeout=_positive("first-token-timeout", get("first_token_timeout", 0.0), float, True),
        request_timeout=_positive("request-timeout", get("request_timeout", 0.0), float, True),
        verify_tls=not get("insecure", False),
        drain_timeout=_positive("drain-timeout", get("drain_timeout", 30.0), float, zero_ok=True),
        retries=_positive("retries", get("retries", 0), zero_ok=True),
        retry_max_wait=_positive("retry-max-wait", get("retry_max_wait", 30.0), float, zero_ok=True),
        images=_image_options(get),
        text_only=bool(get("text_only", False)),
        api_key=read_api_key(get("api_key_env") or "OPENAI_API_KEY", get("api_key_file"), environ),
    )


def _image_options(get: Any) -> ImageOptions:
    options = ImageOptions(
        per_request=str(get("images_per_request", "1")),
        size=get("image_size", "640x480"),
        fmt=get("image_format", "jpeg"),
        quality=_positive("image-quality", get("image_quality", 85)),
        unique=bool(get("unique_images", False)),
        pool_size=_positive("image-pool-size", get("image_pool_size", 16)),
        files=tuple(f for f in (get("image_files") or "").split(",") if f),
        max_mb=_positive("image-max-mb", get("image_max_mb", 20.0), float),
        url_file=get("image_url_file") or None,
        server_host=get("image_server_host", "127.0.0.1"),
        server_port=_positive("image-server-port", get("image_server_port", 0), zero_ok=True),
        text_first=not get("text_after_images", False),
        seed=_positive("seed", get("seed", 0), zero_ok=True),
    )
    try:
        options.validate()
    except (PayloadError, ValueError) as exc:
        raise SettingsError(str(exc)) from None
    return options
