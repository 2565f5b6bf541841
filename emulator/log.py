"""The JSONL request log: one line per completion request, flushed as it is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from emulator.config import ConfigError


@dataclass(slots=True)
class RequestRecord:
    """What the emulator did for one request.

    `ttft_ms` and `itl_ms` are the planned truth (itl_ms: mean of the planned gaps). `ttft_served_ms`
    is measured: from arrival until the first token's bytes were handed to the socket (for a
    non-streamed request, the whole body). It exceeds the plan when preparing the request (image
    fetches, say) took longer than the planned TTFT, or the server was overloaded.
    """

    request_id: str
    path: str
    t_received: float
    status: int = 200
    outcome: str = "ok"
    stream: bool | None = None
    prompt_tokens: int | None = None
    completion_tokens: int = 0
    images_base64: int = 0
    images_url: int = 0
    image_tokens: int = 0
    images_ignored: int = 0
    """Images taken and left out of the prompt (``--ignore-images``)."""
    ttft_ms: float | None = None
    itl_ms: float | None = None
    ttft_served_ms: float | None = None
    reasoning_tokens: int = 0
    """Of ``completion_tokens``, the reasoning ones (``--reasoning-tokens``)."""
    ttfo_ms: float | None = None
    """Planned time to the first answer token after the reasoning (None without reasoning)."""
    choices: int = 1
    """``n``: the choices generated."""
    finish_reason: str | None = None
    """The first choice's: ``length``, ``stop`` (a stop string) or ``tool_calls``."""
    features: tuple[str, ...] = ()
    """The feature fields the request carried (``emulator.features.LOGGED``)."""


class RequestLog:
    """Appends RequestRecords to a JSONL file, one flushed line each."""

    def __init__(self, path: str) -> None:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "ab")  # noqa: SIM115 - kept open for the server's lifetime
        except OSError as exc:
            raise ConfigError(f"--log {path!r} cannot be opened: {exc.strerror}") from None

    def write(self, record: RequestRecord) -> None:
        self._file.write(orjson.dumps(record) + b"\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
