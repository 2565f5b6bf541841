"""The emulator's settings: one frozen object built once from the command line."""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from emulator.batch_config import BatchConfig, add_batch_arguments, batch_config

DISTRIBUTIONS = ("const", "uniform", "normal", "exponential", "lognormal")
SPREAD_DISTRIBUTIONS = ("uniform", "normal", "lognormal")
USAGE_MODES = ("auto", "separate", "in-finish", "never")
REASONING_FIELDS = ("reasoning_content", "reasoning")
FAULTS = (
    "http500",
    "http429",
    "http503",
    "cut",
    "malformed",
    "stall",
    "no_done",
    "no_finish",
    "error_in_stream",
    "empty_choices",
)


class ConfigError(ValueError):
    """A bad option; its message is one line naming the value and what is accepted."""


@dataclass(frozen=True, slots=True)
class DelaySpec:
    """A delay in milliseconds: `mean_ms`, drawn from `dist` with `spread_ms` (std dev, or half-width)."""

    mean_ms: float
    dist: str = "const"
    spread_ms: float = 0.0

    @property
    def is_zero(self) -> bool:
        return self.mean_ms == 0 and self.spread_ms == 0


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Everything the emulator is told at start; see `python -m emulator --help` for each field."""

    host: str = "127.0.0.1"
    port: int = 8000
    allow_non_loopback: bool = False
    model: str = "emulator"
    tokenizer: str | None = None
    default_max_tokens: int = 256
    tokens_per_chunk: int = 1
    usage_mode: str = "auto"
    no_done: bool = False
    content_in_finish: bool = False
    ttft: DelaySpec = DelaySpec(150.0)
    itl: DelaySpec = DelaySpec(10.0)
    prefill_ms_per_1k_tokens: float = 0.0
    prefill_ms_per_mpixel: float = 0.0
    itl_ms_per_stream: float = 0.0
    seed: int = 0
    text_only: bool = False
    ignore_images: bool = False
    """Take image parts and ignore them (prompt tokens of the text alone), as a text-only model
    behind ``transformers serve`` does."""
    close_after_stream: bool = False
    """Close the connection after each streamed response although the headers say Keep-Alive,
    as llama-server does."""
    strict_model: bool = False
    """Answer a request naming another model 404, as vLLM and llama-server do."""
    list_models: bool = True
    """List the served model at /v1/models (off: an empty list, as ``transformers serve`` gave)."""
    context_len: int = 0
    """Prompt plus output tokens a request may use (0: no limit); the output is trimmed to fit,
    with finish_reason "length", and a prompt that fills it gets a 400."""
    kv_cache_tokens: int = 131072
    """Tokens the emulated KV cache holds: ``vllm:kv_cache_usage_perc`` on ``/metrics`` is the
    prompt plus planned output tokens of the requests in flight over this."""
    image_url_allow: tuple[str, ...] = ()
    image_fetch_timeout_s: float = 5.0
    max_body_mb: float = 64.0
    faults: tuple[tuple[str, float], ...] = ()
    fault_windows: tuple[tuple[str, float, float], ...] = ()
    """(name, start_s, end_s): every request arriving in [start, end) seconds after start-up gets it."""
    stall_s: float = 30.0
    log_path: str | None = None
    batch: BatchConfig = BatchConfig()
    """The Batch API's timing and outcomes (``--batch-*``)."""
    reasoning_tokens: int = 0
    """A reasoning model: this many tokens of reasoning (out of each choice's ``max_tokens``) stream
    before the answer, in ``reasoning_field`` deltas, counted in ``completion_tokens_details``."""
    reasoning_field: str = "reasoning_content"
    mindie: bool = False
    """MindIE's shape: ``usage`` in every chunk, ``full_text`` when asked (``fullTextEnabled``), and
    the server's own timings ``prefill_time`` (the planned TTFT, ms) and ``decode_time_arr`` (the
    planned gaps, ms) in the last chunk and at the top of a non-streamed body."""
    api_key: str | None = field(default=None, repr=False)
    """When set, every /v1 request must carry ``Authorization: Bearer <key>`` (else 401)."""
    tls_cert: str | None = None
    """PEM certificate (chain) to serve HTTPS with, ``tls_key`` its key; None: plain HTTP."""
    tls_key: str | None = None

    @property
    def instant(self) -> bool:
        """True when no delay can ever be planned: whole responses are then written in one go."""
        return (
            self.ttft.is_zero
            and self.itl.is_zero
            and self.prefill_ms_per_1k_tokens == 0
            and self.prefill_ms_per_mpixel == 0
            and self.itl_ms_per_stream == 0
        )


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors raise ConfigError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message)


def _build_parser() -> _Parser:
    p = _Parser(prog="python -m emulator", description="OpenAI-compatible chat server with known timing.",
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="bind address; must be loopback unless allowed")
    p.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one")
    p.add_argument("--allow-non-loopback", action="store_true", help="permit a non-loopback --host")
    p.add_argument("--model", default="emulator", help="model name served and echoed in responses")
    p.add_argument("--tokenizer", default=None, help="tokenizer folder (default: shipped Qwen3 tokenizer)")
    p.add_argument("--default-max-tokens", type=int, default=256, help="tokens when the request sets none")
    p.add_argument("--tokens-per-chunk", type=int, default=1, help="tokens per content chunk after the first")
    p.add_argument("--usage-mode", default="auto", help="auto|separate|in-finish|never")
    p.add_argument("--no-done", action="store_true", help="end streams without data: [DONE]")
    p.add_argument("--content-in-finish", action="store_true", help="last token rides in the finish chunk")
    for name, mean in (("ttft", 150.0), ("itl", 10.0)):
        p.add_argument(f"--{name}-ms", type=float, default=mean, help=f"mean {name.upper()} in ms")
        p.add_argument(f"--{name}-dist", default="const", help="|".join(DISTRIBUTIONS))
        p.add_argument(f"--{name}-spread-ms", type=float, default=0.0, help="std dev (half-width: uniform)")
    p.add_argument("--prefill-ms-per-1k-tokens", type=float, default=0.0, help="TTFT ms per 1k prompt tokens")
    p.add_argument("--prefill-ms-per-mpixel", type=float, default=0.0, help="TTFT ms per image megapixel")
    p.add_argument("--itl-ms-per-stream", type=float, default=0.0, help="ITL ms per other active request")
    p.add_argument("--seed", type=int, default=0, help="seed for delays, faults and output words")
    p.add_argument("--text-only", action="store_true", help="reject requests that carry images")
    p.add_argument("--ignore-images", action="store_true",
                   help="accept image parts and ignore them: prompt tokens of the text alone")
    p.add_argument("--close-after-stream", action="store_true",
                   help="close the connection after each streamed response, despite Keep-Alive")
    p.add_argument("--strict-model", action="store_true", help="404 for a request naming another model")
    p.add_argument("--no-models-list", action="store_true", help="/v1/models lists no model")
    p.add_argument("--context-len", type=int, default=0,
                   help="prompt + output tokens per request (0 = no limit): outputs trimmed to fit")
    p.add_argument("--kv-cache-tokens", type=int, default=131072,
                   help="KV-cache tokens: /metrics' vllm:kv_cache_usage_perc is the in-flight share")
    p.add_argument("--image-url-allow", action="append", default=[], metavar="HOST",
                   help="extra host whose http(s) image URLs may be fetched (repeatable)")
    p.add_argument("--image-fetch-timeout-s", type=float, default=5.0, help="timeout for one image fetch")
    p.add_argument("--max-body-mb", type=float, default=64.0, help="largest request body accepted")
    p.add_argument("--fault", action="append", default=[], metavar="NAME=RATE",
                   help=f"inject a fault in a fraction of requests (repeatable): {'|'.join(FAULTS)}")
    p.add_argument("--fault-window", action="append", default=[], metavar="NAME=START-END",
                   help="a fault schedule: every request START..END s after start-up gets NAME (repeatable)")
    p.add_argument("--stall-s", type=float, default=30.0, help="silence of the stall fault, seconds")
    p.add_argument("--api-key-env", default=None, metavar="NAME",
                   help="require the API key held in this environment variable (401 otherwise)")
    p.add_argument("--log", dest="log_path", default=None, metavar="PATH", help="JSONL request log")
    p.add_argument("--reasoning-tokens", type=int, default=0,
                   help="reasoning tokens streamed before each answer (a reasoning model; 0 = none)")
    p.add_argument("--reasoning-field", default="reasoning_content",
                   help="delta field of reasoning: " + "|".join(REASONING_FIELDS))
    p.add_argument("--mindie", action="store_true",
                   help="MindIE's shape: usage in every chunk, full_text, prefill_time and decode_time_arr")
    p.add_argument("--tls-cert", default=None, metavar="FILE",
                   help="serve HTTPS with this PEM certificate (chain); with --tls-key")
    p.add_argument("--tls-key", default=None, metavar="FILE", help="the PEM private key of --tls-cert")
    add_batch_arguments(p)
    return p


def parse_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    """Parse and check the command line; raises ConfigError with a one-line message."""
    ns = _build_parser().parse_args(argv)
    _check_choice("--usage-mode", ns.usage_mode, USAGE_MODES)
    _check_choice("--reasoning-field", ns.reasoning_field, REASONING_FIELDS)
    config = EmulatorConfig(
        host=ns.host,
        port=_ranged_int("--port", ns.port, 0, 65535),
        allow_non_loopback=ns.allow_non_loopback,
        model=ns.model,
        tokenizer=ns.tokenizer,
        default_max_tokens=_ranged_int("--default-max-tokens", ns.default_max_tokens, 1, None),
        tokens_per_chunk=_ranged_int("--tokens-per-chunk", ns.tokens_per_chunk, 1, None),
        usage_mode=ns.usage_mode,
        no_done=ns.no_done,
        content_in_finish=ns.content_in_finish,
        ttft=_delay("ttft", ns.ttft_ms, ns.ttft_dist, ns.ttft_spread_ms),
        itl=_delay("itl", ns.itl_ms, ns.itl_dist, ns.itl_spread_ms),
        prefill_ms_per_1k_tokens=_non_negative("--prefill-ms-per-1k-tokens", ns.prefill_ms_per_1k_tokens),
        prefill_ms_per_mpixel=_non_negative("--prefill-ms-per-mpixel", ns.prefill_ms_per_mpixel),
        itl_ms_per_stream=_non_negative("--itl-ms-per-stream", ns.itl_ms_per_stream),
        seed=ns.seed,
        text_only=ns.text_only,
        ignore_images=ns.ignore_images,
        close_after_stream=ns.close_after_stream,
        context_len=_ranged_int("--context-len", ns.context_len, 0, None),
        kv_cache_tokens=_ranged_int("--kv-cache-tokens", ns.kv_cache_tokens, 1, None),
        strict_model=ns.strict_model,
        list_models=not ns.no_models_list,
        image_url_allow=tuple(h.lower() for h in ns.image_url_allow),
        image_fetch_timeout_s=_positive("--image-fetch-timeout-s", ns.image_fetch_timeout_s),
        max_body_mb=_positive("--max-body-mb", ns.max_body_mb),
        faults=parse_faults(ns.fault),
        fault_windows=parse_fault_windows(ns.fault_window),
        stall_s=_non_negative("--stall-s", ns.stall_s),
        log_path=ns.log_path,
        batch=batch_config(ns),
        reasoning_tokens=_ranged_int("--reasoning-tokens", ns.reasoning_tokens, 0, None),
        reasoning_field=ns.reasoning_field,
        mindie=ns.mindie,
        api_key=_api_key(ns.api_key_env),
        tls_cert=ns.tls_cert,
        tls_key=ns.tls_key,
    )
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    if config.text_only and config.ignore_images:
        raise ConfigError("--text-only rejects images and --ignore-images takes them: pick one")
    if not config.allow_non_loopback:
        check_loopback(config.host)
    return config


def _api_key(env_name: str | None) -> str | None:
    if env_name is None:
        return None
    key = os.environ.get(env_name)
    if not key:
        raise ConfigError(f"--api-key-env {env_name}: the variable is not set or empty")
    return key


def parse_faults(specs: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """Turn `NAME=RATE` strings into (name, rate) pairs; rates are fractions summing to at most 1."""
    faults: dict[str, float] = {}
    for spec in specs:
        name, sep, rate_text = spec.partition("=")
        if not sep:
            raise ConfigError(f"--fault {spec!r}: expected NAME=RATE, e.g. http500=0.05")
        _check_choice("--fault name", name, FAULTS)
        if name in faults:
            raise ConfigError(f"--fault {name} given twice")
        faults[name] = _fraction(f"--fault {name}", rate_text)
    total = sum(faults.values())
    if total > 1 + 1e-9:
        raise ConfigError(f"--fault rates sum to {total:g}; accepted: a total of at most 1")
    return tuple(faults.items())


def parse_fault_windows(specs: Sequence[str]) -> tuple[tuple[str, float, float], ...]:
    """Turn `NAME=START-END` strings (seconds after start-up) into (name, start, end) triples."""
    windows = []
    for spec in specs:
        name, sep, span = spec.partition("=")
        start_text, dash, end_text = span.partition("-")
        if not sep or not dash:
            raise ConfigError(f"--fault-window {spec!r}: expected NAME=START-END seconds, e.g. http503=10-20")
        _check_choice("--fault-window name", name, FAULTS)
        try:
            start, end = float(start_text), float(end_text)
        except ValueError:
            raise ConfigError(f"--fault-window {spec!r}: START and END must be numbers of seconds") from None
        if not 0 <= start < end:
            raise ConfigError(f"--fault-window {spec!r}: expected 0 <= START < END")
        windows.append((name, start, end))
    return tuple(windows)


def check_loopback(host: str) -> None:
    """Raise ConfigError unless every address `host` names is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"--host {host!r} does not resolve ({exc.strerror})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_loopback:
            raise ConfigError(
                f"--host {host!r} is not loopback; accepted: 127.0.0.1, localhost, ::1 "
                "(or pass --allow-non-loopback)"
            )


def _delay(name: str, mean_ms: float, dist: str, spread_ms: float) -> DelaySpec:
    _check_choice(f"--{name}-dist", dist, DISTRIBUTIONS)
    _non_negative(f"--{name}-ms", mean_ms)
    _non_negative(f"--{name}-spread-ms", spread_ms)
    if spread_ms and dist not in SPREAD_DISTRIBUTIONS:
        raise ConfigError(
            f"--{name}-spread-ms {spread_ms:g} has no meaning with --{name}-dist {dist}; "
            f"accepted with: {'|'.join(SPREAD_DISTRIBUTIONS)}"
        )
    return DelaySpec(mean_ms, dist, spread_ms)


def _check_choice(option: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{option} {value!r} is not known; accepted: {'|'.join(choices)}")


def _ranged_int(option: str, value: int, low: int, high: int | None) -> int:
    if value < low or (high is not None and value > high):
        accepted = f"{low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{option} {value} is out of range; accepted: {accepted}")
    return value


def _non_negative(option: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{option} {value:g} is invalid; accepted: a finite number >= 0")
    return value


def _positive(option: str, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{option} {value:g} is invalid; accepted: a finite number > 0")
    return value


def _fraction(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{option} rate {text!r} is not a number; accepted: 0..1") from None
    if not 0 <= value <= 1:
        raise ConfigError(f"{option} rate {text} is out of range; accepted: 0..1")
    return value
