"""One typed settings object, built once from Locust's parsed options and the environment.

Nothing else reads the argparse Namespace: users, the client and the report get a
:class:`Settings`. Every bad value becomes a :class:`SettingsError` with one line naming
the value and what is accepted. Defaults are the option table's (:mod:`conf.options`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from batch.jsonl import MAX_LINES
from batch.options import IMAGE_MODES, BatchOptions
from conf.features import RequestFeatures, build_features
from conf.images import ImageOptions, check
from conf.load import LoadSettings, load_settings
from conf.options import default
from conf.target import Target
from reports.goodput import Goodput, parse_goodput
from reports.slo import Slo, parse_slos

DEFAULT_HOST = "http://127.0.0.1:8000"
ENDPOINTS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}
MIN_SCRAPE_INTERVAL = 0.1
"""Seconds: scraping a server's /metrics more often than this loads it for nothing."""


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
    max_tokens: int = default("max_tokens")
    """Output length asked for (``max_tokens``)."""
    input_len: int = default("input_len")
    """Prompt length in tokens (content, before the chat template)."""
    range_ratio: float = default("range_ratio")
    """Vary input and output lengths uniformly within +/- this ratio (as vLLM's random dataset)."""
    prefix_len: int = default("prefix_len")
    unique_prefix: bool = False
    tokenizer: str | None = None
    dataset: str | None = None
    dataset_format: str = default("dataset_format")
    dataset_skip_bad: bool = False
    """Skip bad dataset lines (and report how many and why) instead of stopping at the first."""
    conversations: str | None = None
    """ShareGPT file for multi-turn users (default: turns from the payload factory)."""
    turns: int = default("turns")
    think_time: float = default("think_time")
    """Seconds a multi-turn user waits between turns."""
    seed: int = 0
    """The run's seed (``--seed``, or a fresh one the lifecycle draws when it is not given)."""
    summary_json: str | None = None
    request_log: str | None = None
    """JSONL file with one line per request (Batch output shape plus timings)."""
    per_token_stats: bool = True
    fail_on_worker_loss: bool = False
    """A worker lost mid-run makes the exit code 6 (by default it is logged and summarized only)."""
    slos: tuple[Slo, ...] = ()
    """``--slo``: objectives checked against the summary at the end; a breach is exit code 4."""
    goodput: Goodput | None = None
    """``--goodput``: per-request bounds each request is judged against as it is counted."""
    server_metrics: str | None = None
    """The server's Prometheus page to scrape during a run (``--server-metrics``, ``auto`` made
    the target's ``/metrics``); None: off."""
    server_metrics_interval: float = default("server_metrics_interval")
    """Seconds between two scrapes of ``server_metrics``."""
    connect_timeout: float = default("connect_timeout")
    idle_timeout: float = default("idle_timeout")
    first_token_timeout: float = default("first_token_timeout")
    request_timeout: float = default("request_timeout")
    verify_tls: bool = True
    """Check the target's TLS certificate (``--insecure`` turns it off: neither chain nor name)."""
    ca_cert: str | None = None
    """A PEM file of the CA that signs the target's certificate (``--ca-cert``); None: the system's."""
    drain_timeout: float = default("drain_timeout")
    """Seconds requests in flight when the test stops get to finish before they are cancelled."""
    retries: int = default("retries")
    """Re-send a 429/503 answer up to this many times (0 = never), after its Retry-After."""
    retry_max_wait: float = default("retry_max_wait")
    repeated_error_requests: int = default("repeated_error_requests")
    """Stop when this many first requests all failed with one 4xx (``metrics.guard``)."""
    stop_on_repeated_error: bool = True
    images: ImageOptions = field(default_factory=ImageOptions)
    load: LoadSettings = field(default_factory=LoadSettings)
    """Closed loop, or an open-loop rate with its shape; sweeps; warm-up."""
    batch: BatchOptions = field(default_factory=BatchOptions)
    """What the Batch API workload sends and how it follows its batches."""
    text_only: bool = False
    """The target takes no images: image traffic is refused before the run starts."""
    features: RequestFeatures = field(default_factory=RequestFeatures)
    """Fields every body carries (``--tools``, ``--response-format``, ``--n``, ``--extra-body``, ...)."""
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


def _metrics_url(value: Any, target: Target) -> str | None:
    """``--server-metrics``: off (None), auto (the target's /metrics) or an http(s) URL."""
    text = str(value or "off").strip()
    if text.lower() == "off":
        return None
    if text.lower() == "auto":
        return f"{target}/metrics"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"--server-metrics {text!r}: expected an http(s) URL, auto or off")
    return text


def _interval(name: str, value: Any) -> float:
    seconds = _positive(name, value, float)
    if seconds < MIN_SCRAPE_INTERVAL:
        raise SettingsError(f"--{name} {value!r}: expected at least {MIN_SCRAPE_INTERVAL:g} seconds")
    return seconds


def _parsed(parse: Callable[[Any], Any], value: Any) -> Any:
    """``parse(value)``, its ValueError (already one line naming the option) a SettingsError."""
    try:
        return parse(value)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


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


def option_getter(options: Any) -> Callable[[str], Any]:
    """``get(dest)``: the option's value in ``options``, else the option table's default."""
    return lambda dest: getattr(options, dest, default(dest))


def from_options(options: Any, environ: dict[str, str] | None = None, host: str | None = None) -> Settings:
    """Build and validate :class:`Settings` from Locust's parsed options.

    ``host`` overrides ``options.host``: a worker gets the run's host from the master apart
    from the options, and the web UI's form changes Locust's environment, not the options.
    An option missing from ``options`` takes the option table's default.
    """
    environ = dict(os.environ) if environ is None else environ
    get = option_getter(options)
    try:
        target = Target.parse(host or getattr(options, "host", None) or DEFAULT_HOST)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    endpoint = get("endpoint")
    if endpoint not in ENDPOINTS:
        raise SettingsError(f"--endpoint {endpoint!r}: expected one of {', '.join(ENDPOINTS)}")
    return Settings(
        target=target,
        model=get("model") or "",
        endpoint=ENDPOINTS[endpoint],
        stream=not get("no_stream"),
        include_usage=not get("no_include_usage"),
        ignore_eos=bool(get("ignore_eos")),
        max_tokens=_positive("max-tokens", get("max_tokens")),
        input_len=_positive("input-len", get("input_len")),
        range_ratio=_ratio("range-ratio", get("range_ratio")),
        prefix_len=_positive("prefix-len", get("prefix_len"), zero_ok=True),
        unique_prefix=bool(get("unique_prefix")),
        tokenizer=get("tokenizer") or None,
        dataset=get("dataset") or None,
        dataset_format=get("dataset_format"),
        dataset_skip_bad=bool(get("dataset_skip_bad")),
        conversations=get("conversations") or None,
        turns=_positive("turns", get("turns")),
        think_time=_positive("think-time", get("think_time"), float, zero_ok=True),
        seed=_positive("seed", get("seed") or 0, zero_ok=True),
        summary_json=get("summary_json") or None,
        request_log=get("request_log") or None,
        per_token_stats=not get("no_per_token_stats"),
        fail_on_worker_loss=bool(get("fail_on_worker_loss")),
        slos=_parsed(parse_slos, get("slo")),
        goodput=_parsed(parse_goodput, get("goodput")),
        server_metrics=_metrics_url(get("server_metrics"), target),
        server_metrics_interval=_interval("server-metrics-interval", get("server_metrics_interval")),
        connect_timeout=_positive("connect-timeout", get("connect_timeout"), float),
        idle_timeout=_positive("idle-timeout", get("idle_timeout"), float),
        first_token_timeout=_positive("first-token-timeout", get("first_token_timeout"), float, True),
        request_timeout=_positive("request-timeout", get("request_timeout"), float, True),
        verify_tls=not get("insecure"),
        ca_cert=_ca_cert(get("ca_cert")),
        drain_timeout=_positive("drain-timeout", get("drain_timeout"), float, zero_ok=True),
        retries=_positive("retries", get("retries"), zero_ok=True),
        retry_max_wait=_positive("retry-max-wait", get("retry_max_wait"), float, zero_ok=True),
        repeated_error_requests=_positive("repeated-error-requests", get("repeated_error_requests")),
        stop_on_repeated_error=not get("no_stop_on_repeated_error"),
        images=_image_options(get),
        load=_load(get, getattr(options, "run_time", None)),
        batch=_batch_options(get),
        text_only=bool(get("text_only")),
        features=_features(get, endpoint),
        api_key=read_api_key(get("api_key_env") or default("api_key_env"), get("api_key_file"), environ),
    )


def _ca_cert(value: Any) -> str | None:
    if not value:
        return None
    if not Path(value).is_file():
        raise SettingsError(f"--ca-cert {value!r}: no such file")
    return str(value)


def _load(get: Callable[[str], Any], run_time: Any) -> LoadSettings:
    try:
        return load_settings(get, run_time)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _features(get: Callable[[str], Any], endpoint: str) -> RequestFeatures:
    n = _positive("n", get("n") or 0, zero_ok=True)
    seed = get("sampling_seed")
    seed = None if seed is None else _positive("sampling-seed", seed, zero_ok=True)
    try:
        return build_features(get("extra_body"), get("tools"), get("tool_choice"), get("response_format"),
                              get("reasoning_effort"), n, get("stop"), seed, chat=endpoint == "chat")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _batch_options(get: Callable[[str], Any]) -> BatchOptions:
    lines = _positive("batch-lines", get("batch_lines"), zero_ok=True)
    if lines > MAX_LINES:
        raise SettingsError(f"--batch-lines {lines}: the Batch API takes at most {MAX_LINES:,} lines a file")
    if lines == 0 and not get("dataset"):
        raise SettingsError("--batch-lines 0 sends every --dataset line once: pass --dataset FILE or a count")
    window = str(get("batch_window"))
    if not re.fullmatch(r"[1-9][0-9]*[hd]", window):
        raise SettingsError(f"--batch-window {window!r}: expected whole hours or days (24h, 7d)")
    interval = _positive("batch-poll-interval", get("batch_poll_interval"), float)
    longest = _positive("batch-poll-max", get("batch_poll_max"), float)
    if longest < interval:
        raise SettingsError(f"--batch-poll-max {longest:g}: expected at least the --batch-poll-interval "
                            f"{interval:g}")
    share = _positive("batch-cancel-share", get("batch_cancel_share"), float, zero_ok=True)
    if share > 1:
        raise SettingsError(f"--batch-cancel-share {share:g}: expected a share in [0, 1]")
    images = get("batch_images")
    if images not in IMAGE_MODES:
        raise SettingsError(f"--batch-images {images!r}: expected one of {', '.join(IMAGE_MODES)}")
    if images != "none" and get("endpoint") != "chat":
        raise SettingsError(f"--batch-images {images}: only /v1/chat/completions takes images "
                            "(--endpoint chat)")
    return BatchOptions(lines, window, interval, longest, share, images)


def _image_options(get: Callable[[str], Any]) -> ImageOptions:
    options = ImageOptions(
        per_request=str(get("images_per_request")),
        size=get("image_size"),
        fmt=get("image_format"),
        quality=_positive("image-quality", get("image_quality")),
        unique=bool(get("unique_images")),
        pool_size=_positive("image-pool-size", get("image_pool_size")),
        files=tuple(f for f in (get("image_files") or "").split(",") if f),
        max_mb=_positive("image-max-mb", get("image_max_mb"), float),
        url_file=get("image_url_file") or None,
        server_host=get("image_server_host"),
        server_port=_positive("image-server-port", get("image_server_port"), zero_ok=True),
        base_url=get("image_base_url") or None,
        text_first=not get("text_after_images"),
        seed=_positive("seed", get("seed") or 0, zero_ok=True),
    )
    try:
        check(options)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return options
