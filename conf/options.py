"""Every LLM option, once: its flag, type, default, help, ``--help`` group and web-form place.

:mod:`plugin.options` builds argparse (``--help``, conf files, the web UI's start form) from
:data:`OPTIONS`, and :func:`conf.settings.from_options` takes its defaults from the same
rows, so a default lives here and nowhere else. Pure data: this module imports nothing of
the project's.

The rows marked ``web_ui`` come first, in the order the start form shows them: the knobs a
person changes between runs. Everything else is set on the command line or in a conf file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

GROUPS: dict[str, tuple[str, str]] = {
    "target": ("LLM target", "The server is Locust's --host; what is asked of it and how."),
    "body": ("LLM request body", "Fields every request carries: tools, JSON mode, sampling, extra fields."),
    "lengths": ("LLM lengths", "Prompt and output lengths, datasets, conversations and the seed."),
    "images": ("LLM images", "Images sent by the image users: synthetic, your files, or URLs."),
    "timeouts": ("LLM timeouts and retries", "How long a request may take, and what is re-sent."),
    "output": ("LLM output", "The JSON summary, the request log and Locust's per-token rows."),
    "gates": ("LLM gates", "SLOs that fail the run (exit code 4) and goodput bounds, judged at the end."),
    "load": ("LLM load", "Open-loop request rates, their ramps and steps, user steps, sweeps, warm-up."),
    "batch": ("LLM batch", "The Batch API workload (BatchUser): lines per batch, window, polls, cancels."),
}
"""``--help`` groups: key -> (heading, one-line description), in the order they print."""


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option (also a conf-file key, and perhaps a start-form field)."""

    flag: str
    """The long flag, ``--max-tokens``; its conf-file key drops the dashes."""
    type: type
    """``str``, ``int`` or ``float``; ``bool`` is an on/off flag (``store_true``, default off)."""
    default: Any
    help: str
    group: str
    """A key of :data:`GROUPS`."""
    web_ui: bool = False
    """Shown in the web UI's start form (as Locust's ``include_in_web_ui``)."""
    choices: tuple[str, ...] | None = None
    secret: bool = False
    """A masked field in the start form (its value is still in the page: never a key itself)."""
    default_text: str = ""
    """How ``--help`` states a default that is no plain value ("the first in /v1/models")."""
    repeat: Literal["", "append", "+"] = ""
    """"append": the flag may be given again, each value kept (a list; a conf-file key takes
    ``[a, b]``); "+": one or more values after the flag (argparse's ``nargs="+"``), also kept
    across repeats. The default is then None (argparse would append to a default list)."""

    @property
    def dest(self) -> str:
        """The attribute name on Locust's parsed options: ``max_tokens``."""
        return self.flag.removeprefix("--").replace("-", "_")

    def shown_default(self) -> str:
        """The default as ``--help`` prints it; empty for on/off flags (always off)."""
        if self.type is bool:
            return ""
        if self.default_text:
            return self.default_text
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)


OPTIONS: tuple[Option, ...] = (
    # The start form's fields, in the order it shows them.
    Option("--model", str, "", "Model name to send", "target", web_ui=True,
           default_text="the first in /v1/models"),
    Option("--max-tokens", int, 256, "Output tokens asked for per request", "lengths", web_ui=True),
    Option("--input-len", int, 128, "Prompt tokens per request", "lengths", web_ui=True),
    Option("--images-per-request", str, "1", "N or MIN-MAX images per request", "images", web_ui=True),
    Option("--image-size", str, "640x480", "WxH, W1xH1,W2xH2 or uniform:MIN-MAX", "images", web_ui=True),
    Option("--image-format", str, "jpeg", "Encoding of synthetic images", "images", web_ui=True,
           choices=("jpeg", "png", "webp")),
    Option("--unique-images", bool, False, "A different image every request", "images", web_ui=True),
    Option("--range-ratio", float, 0.0, "Vary prompt and output lengths within +/- this ratio", "lengths",
           web_ui=True),
    Option("--prefix-len", int, 0, "Tokens of a prefix shared by all prompts", "lengths", web_ui=True),
    Option("--endpoint", str, "chat", "chat = /v1/chat/completions, completions = /v1/completions",
           "target", web_ui=True, choices=("chat", "completions")),
    Option("--no-stream", bool, False, "Send non-streamed requests", "target", web_ui=True),
    # Command line and conf files only.
    Option("--no-include-usage", bool, False, "Do not send stream_options.include_usage", "target"),
    Option("--api-key-env", str, "OPENAI_API_KEY", "Environment variable holding the API key", "target"),
    Option("--api-key-file", str, "", "File holding the API key (read before --api-key-env)", "target",
           default_text="none"),
    Option("--insecure", bool, False, "Do not verify the target's TLS certificate (neither chain nor name)",
           "target"),
    Option("--ca-cert", str, "", "PEM file of the CA that signs the target's certificate (a private CA)",
           "target", default_text="the system's CAs"),
    Option("--text-only", bool, False, "The target takes no images: refuse image users", "target"),
    Option("--extra-body", str, "", "JSON object (inline or a file) whose fields every body carries as they "
           'are, e.g. {"enable_thinking": false, "thinking_budget": 512, "fullTextEnabled": true}', "body",
           default_text="none"),
    Option("--tools", str, "", "Tools offered: a JSON list of function tools, inline or a file", "body",
           default_text="none"),
    Option("--tool-choice", str, "", "tool_choice: auto, none, required, or a tool's function name", "body",
           default_text="not sent"),
    Option("--response-format", str, "", "json_object (JSON mode), text, or a JSON schema (inline or a file)",
           "body", default_text="not sent"),
    Option("--reasoning-effort", str, "", "reasoning_effort sent (low, medium, high, ...)", "body",
           default_text="not sent"),
    Option("--n", int, 0, "Choices per request (the body's n)", "body", default_text="not sent"),
    Option("--stop", str, None, "A stop sequence (repeat the flag for more; a conf file takes a list)",
           "body", default_text="none", repeat="append"),
    Option("--sampling-seed", int, None, "The body's seed (the server's sampling seed; --seed seeds prompts)",
           "body", default_text="not sent"),
    Option("--unique-prefix", bool, False, "Start each prompt uniquely (defeat caches)", "lengths"),
    Option("--ignore-eos", bool, False, "Send ignore_eos (exact output lengths)", "lengths"),
    Option("--tokenizer", str, "", "HF name or local folder with tokenizer.json", "lengths",
           default_text="the shipped Qwen3 tokenizer"),
    Option("--dataset", str, "", "JSONL prompts, messages or Batch-format file to replay", "lengths",
           default_text="none: prompts of --input-len tokens"),
    Option("--dataset-format", str, "auto",
           "How to read --dataset (auto: Batch lines have custom_id and body)", "lengths",
           choices=("auto", "prompts", "batch")),
    Option("--dataset-skip-bad", bool, False,
           "Skip bad dataset lines (reported) instead of stopping at the first", "lengths"),
    Option("--conversations", str, "", "ShareGPT file for multi-turn users", "lengths",
           default_text="none: turns made to --input-len"),
    Option("--turns", int, 3, "User turns per conversation (multi-turn users)", "lengths"),
    Option("--think-time", float, 0.0, "Seconds between turns (multi-turn users)", "lengths"),
    Option("--seed", int, None, "Seed for prompts, images, lengths", "lengths",
           default_text="a fresh one each run, in the summary"),
    Option("--image-quality", int, 85, "JPEG/WebP quality", "images"),
    Option("--image-files", str, "", "Image files/folders, comma-separated", "images",
           default_text="none: synthetic images"),
    Option("--image-max-mb", float, 20.0, "Largest image file accepted, MB", "images"),
    Option("--image-pool-size", int, 16, "Images built ahead of the run", "images"),
    Option("--image-url-file", str, "", "File of image URLs for the image-URL users", "images",
           default_text="serve the pool"),
    Option("--image-server-host", str, "127.0.0.1",
           "Bind address of the image server (a remote target cannot fetch from loopback: 0.0.0.0 binds all)",
           "images"),
    Option("--image-base-url", str, "", "Where the target fetches the served images, http://HOST[:PORT]/ "
           "(the server's port when none is named)", "images", default_text="the bind address"),
    Option("--image-server-port", int, 0, "Port of the image server (0 = any)", "images"),
    Option("--text-after-images", bool, False, "Put the text part after the images", "images"),
    Option("--connect-timeout", float, 10.0, "Seconds to connect", "timeouts"),
    Option("--idle-timeout", float, 60.0, "Seconds without a byte before failing", "timeouts"),
    Option("--first-token-timeout", float, 0.0, "Seconds to first token (0 = off)", "timeouts"),
    Option("--request-timeout", float, 0.0, "Seconds for a whole request (0 = off)", "timeouts"),
    Option("--drain-timeout", float, 30.0,
           "Seconds requests in flight at stop get to finish (then cancelled)", "timeouts"),
    Option("--retries", int, 0, "Re-send a request answered 429/503 up to N times", "timeouts"),
    Option("--retry-max-wait", float, 30.0, "Longest Retry-After honoured, seconds", "timeouts"),
    Option("--repeated-error-requests", int, 20,
           "Stop the run (exit 4) when its first N requests all failed with the same 4xx", "timeouts"),
    Option("--no-stop-on-repeated-error", bool, False,
           "Run on when the first requests all fail with the same 4xx", "timeouts"),
    Option("--summary-json", str, "", "Write the LLM summary (vLLM keys) to this JSON file", "output",
           default_text="not written"),
    Option("--request-log", str, "", "Write one JSONL line per request to this file", "output",
           default_text="not written"),
    Option("--no-per-token-stats", bool, False, "Do not log each token in Locust stats", "output"),
    Option("--request-rate", float, float("inf"),
           "Requests/s for the whole run, across workers; users (-u) cap those in flight "
           "(inf: closed loop, each user sends again when its answer ends)", "load"),
    Option("--burstiness", float, 1.0, "Gamma shape of the gaps between arrivals: 1 Poisson, inf even",
           "load"),
    Option("--warmup", float, 0.0, "Seconds at the start left out of every figure", "load"),
    Option("--ramp-up-strategy", str, "", "Ramp the request rate: linear or exponential", "load",
           default_text="no ramp"),
    Option("--ramp-up-start-rps", float, 1.0, "Request rate at the ramp's start", "load"),
    Option("--ramp-up-end-rps", float, 10.0, "Request rate at the ramp's end", "load"),
    Option("--ramp-up-time", str, "", "How long the ramp lasts (30s, 2m)", "load",
           default_text="the run time"),
    Option("--rate-steps", str, "", "Request rate in steps, RATE:DURATION,... (5:30s,10:30s); the run "
           "ends after the last", "load", default_text="none"),
    Option("--user-steps", str, "", "Users in steps, USERS:DURATION,... (8:30s,16:30s); the run ends "
           "after the last", "load", default_text="none"),
    Option("--sweep", str, "", "Rates to run in turn (1,2,4,8) or auto (from the measured saturation "
           "rate down); per-step summaries", "load", default_text="none"),
    Option("--sweep-step-time", str, "30s", "How long each sweep step lasts", "load"),
    Option("--fail-on-worker-loss", bool, False,
           "Exit non-zero (6) when a worker is lost mid-run (its reported requests are kept)", "output"),
    Option("--slo", str, None, "NAME=MAX the run must meet, else exit code 4; NAME is "
           "{mean,median,p90,p95,p99}_{ttft,tpot,itl,e2el}_ms or error_rate (0..1); repeat the flag or "
           "separate with commas", "gates", default_text="none", repeat="append"),
    Option("--goodput", str, None, "Per-request bounds for goodput, as vLLM's: ttft:MS tpot:MS e2el:MS "
           "(any subset); the summary gets request_goodput and goodput_share", "gates",
           default_text="none", repeat="+"),
    Option("--server-metrics", str, "off",
           "Scrape the server's Prometheus metrics during the run: URL, auto (the target's /metrics) "
           "or off; summarized as server_metrics", "output"),
    Option("--server-metrics-interval", float, 2.0, "Seconds between scrapes of --server-metrics", "output"),
    Option("--batch-lines", int, 100, "Lines per batch (at most 50,000); 0 = every --dataset line once",
           "batch"),
    Option("--batch-window", str, "24h", "completion_window asked for: whole hours or days (24h, 7d)",
           "batch"),
    Option("--batch-poll-interval", float, 5.0,
           "Seconds before the first poll, and after each change of status", "batch"),
    Option("--batch-poll-max", float, 60.0,
           "Longest wait between polls (the wait grows 1.5x while nothing changes)", "batch"),
    Option("--batch-cancel-share", float, 0.0,
           "Share of batches cancelled at their first poll, evenly spread (0.25: every 4th)", "batch"),
    Option("--batch-images", str, "none", "Images in each batch line (--images-per-request of them)",
           "batch", choices=("none", "base64", "image-url")),
)
"""Every LLM option; start-form fields first, in form order."""

BY_DEST: dict[str, Option] = {option.dest: option for option in OPTIONS}
"""The rows by ``dest``."""


def default(dest: str) -> Any:
    """The table's default for option ``dest`` (a KeyError names a dest that is no option)."""
    return BY_DEST[dest].default
