"""The one module that talks to Locust's event hooks.

It adds the command-line options, builds the :class:`Runtime` at start, fires the
request events (whole request, first token, each later token) into Locust's stats,
ships exact metrics from workers to the master, and prints and writes the LLM summary.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import gc
import logging
import sys
import time

import gevent
from locust import LoadTestShape, User, events
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from conf.settings import ENDPOINTS, Settings, SettingsError, from_options
from metrics.collector import LlmMetrics
from metrics.report import format_table, summarize, write_json
from payloads.tokenizer import TokenizerError, load_tokenizer
from plugin.runtime import Runtime, make_sampler, probe_target
from streaming.record import RequestRecord
from transport.client import IN_FLIGHT

log = logging.getLogger("llm")
REPORT_KEY = "llm_metrics"


class LLMRequestError(Exception):
    """A failed LLM request; the message is its grouped reason."""


@events.init_command_line_parser.add_listener
def add_options(parser) -> None:
    """LLM options: they show in ``--help``, in conf files and in the web UI's start form."""
    g = m = parser  # Locust's own add_argument (groups drop include_in_web_ui)
    for action in parser._actions:  # Locust's positional user classes: a one-line error, exit 2
        if action.dest == "user_classes":
            action.type = known_user_class
    ui = {"include_in_web_ui": True}
    g.add_argument("--model", default="", help="Model name to send (default: the first in /v1/models)", **ui)
    g.add_argument("--endpoint", default="chat", choices=["chat", "completions"],
                   help="chat = /v1/chat/completions, completions = /v1/completions", **ui)
    g.add_argument("--max-tokens", type=int, default=256, help="Output tokens asked for per request", **ui)
    g.add_argument("--input-len", type=int, default=128, help="Prompt tokens per request", **ui)
    g.add_argument("--range-ratio", type=float, default=0.0,
                   help="Vary prompt and output lengths within +/- this ratio", **ui)
    g.add_argument("--prefix-len", type=int, default=0, help="Tokens of a prefix shared by all prompts", **ui)
    g.add_argument("--unique-prefix", action="store_true", help="Start each prompt uniquely (defeat caches)")
    g.add_argument("--tokenizer", default="", help="HF name or local folder (default: shipped Qwen3)")
    g.add_argument("--dataset", default="", help="JSONL prompts, messages or Batch-format file to replay")
    g.add_argument("--dataset-format", default="auto", choices=["auto", "prompts", "batch"],
                   help="How to read --dataset (auto: Batch lines have custom_id and body)")
    g.add_argument("--dataset-skip-bad", action="store_true",
                   help="Skip bad dataset lines (reported) instead of stopping at the first")
    g.add_argument("--conversations", default="", help="ShareGPT file for multi-turn users")
    g.add_argument("--turns", type=int, default=3, help="User turns per conversation (multi-turn users)")
    g.add_argument("--think-time", type=float, default=0.0, help="Seconds between turns (multi-turn users)")
    g.add_argument("--seed", type=int, default=0, help="Seed for prompts and lengths")
    g.add_argument("--no-stream", action="store_true", help="Send non-streamed requests", **ui)
    g.add_argument("--no-include-usage", action="store_true", help="Do not send stream_options.include_usage")
    g.add_argument("--ignore-eos", action="store_true", help="Send ignore_eos (exact output lengths)")
    g.add_argument("--no-per-token-stats", action="store_true", help="Do not log each token in Locust stats")
    g.add_argument("--summary-json", default="", help="Write the LLM summary (vLLM keys) to this JSON file")
    g.add_argument("--request-log", default="", help="Write one JSONL line per request to this file")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="Environment variable holding the API key")
    g.add_argument("--api-key-file", default="", help="File holding the API key")
    g.add_argument("--connect-timeout", type=float, default=10.0, help="Seconds to connect")
    g.add_argument("--idle-timeout", type=float, default=60.0, help="Seconds without a byte before failing")
    g.add_argument("--first-token-timeout", type=float, default=0.0, help="Seconds to first token (0 = off)")
    g.add_argument("--request-timeout", type=float, default=0.0, help="Seconds for a whole request (0 = off)")
    g.add_argument("--drain-timeout", type=float, default=30.0,
                   help="Seconds requests in flight at stop get to finish (then cancelled)")
    g.add_argument("--retries", type=int, default=0, help="Re-send a request answered 429/503 up to N times")
    g.add_argument("--retry-max-wait", type=float, default=30.0, help="Longest Retry-After honoured, seconds")
    g.add_argument("--insecure", action="store_true", help="Do not verify TLS certificates")
    g.add_argument("--text-only", action="store_true", help="The target takes no images: refuse image users")
    m.add_argument("--images-per-request", default="1", help="N or MIN-MAX images per request", **ui)
    m.add_argument("--image-size", default="640x480", help="WxH, W1xH1,W2xH2 or uniform:MIN-MAX", **ui)
    m.add_argument("--image-format", default="jpeg", choices=["jpeg", "png", "webp"], help="Encoding", **ui)
    m.add_argument("--image-quality", type=int, default=85, help="JPEG/WebP quality")
    m.add_argument("--unique-images", action="store_true", help="A different image every request", **ui)
    m.add_argument("--image-files", default="", help="Image files/folders, comma-separated")
    m.add_argument("--image-max-mb", type=float, default=20.0, help="Largest image file accepted, MB")
    m.add_argument("--image-pool-size", type=int, default=16, help="Images built ahead of the run")
    m.add_argument("--image-url-file", default="", help="File of image URLs (default: serve the pool)")
    m.add_argument("--image-server-host", default="127.0.0.1", help="Bind address of the image server")
    m.add_argument("--image-server-port", type=int, default=0, help="Port of the image server (0 = any)")
    m.add_argument("--text-after-images", action="store_true", help="Put the text part after the images")


def known_user_class(name: str) -> str:
    """Accept the name of a concrete User or LoadTestShape class defined by the locustfile."""
    known = sorted(_concrete_names(User) | _concrete_names(LoadTestShape))
    if name not in known:
        raise argparse.ArgumentTypeError(f"unknown user class {name!r}; accepted: {', '.join(known)}")
    return name


def _concrete_names(base: type) -> set[str]:
    names, stack = set(), list(base.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not cls.__dict__.get("abstract", False) and cls.__module__.split(".")[0] != "locust":
            names.add(cls.__name__)
    return names


def fail(message: str) -> None:
    """A user mistake: one line on stderr, exit code 2, no traceback."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def build_runtime(environment: Environment) -> Runtime:
    """Settings from the options, the model from the server when not given, the tokenizer."""
    requested = settings = from_options(environment.parsed_options)
    headless = getattr(environment.parsed_options, "headless", False)
    if headless or not settings.model:
        listed = probe_target(settings)
        if not settings.model:
            if listed is None:
                raise SettingsError(f"--host {settings.target}: /v1/models lists no model; pass --model NAME")
            settings = dataclasses.replace(settings, model=listed)
    try:
        tokenizer = load_tokenizer(settings.tokenizer)
    except TokenizerError as exc:
        raise SettingsError(str(exc)) from None
    offset = getattr(environment.runner, "worker_index", 0) or 0
    runtime = Runtime(settings, tokenizer, make_sampler(settings, tokenizer, offset))
    runtime.requested = requested
    runtime.prepare({getattr(c, "traffic_class", "text") for c in environment.user_classes})
    return runtime


def get_runtime(environment: Environment) -> Runtime:
    """The process's runtime (users call this in ``on_start``)."""
    runtime = getattr(environment, "llm_runtime", None)
    if runtime is None:
        raise RuntimeError("the LLM plugin was not initialised (import plugin.hooks in the locustfile)")
    return runtime


def check_user_classes(settings: Settings, user_classes: list) -> None:
    """Image traffic needs a chat endpoint on a target that takes images (seed 000)."""
    image_classes = sorted(c.__name__ for c in user_classes if getattr(c, "sends_images", False))
    if not image_classes:
        return
    if settings.endpoint != ENDPOINTS["chat"]:
        raise SettingsError(f"--endpoint completions: {', '.join(image_classes)} send images, which only "
                            "/v1/chat/completions takes; use --endpoint chat or text users only")
    if settings.text_only:
        raise SettingsError(f"--text-only: the target takes no images, but {', '.join(image_classes)} "
                            "send them; pick text users only")


@events.init.add_listener
def on_init(environment: Environment, **_kw) -> None:
    if environment.parsed_options is None:
        return
    try:
        check_user_classes(from_options(environment.parsed_options), environment.user_classes)
        if isinstance(environment.runner, MasterRunner):
            environment.llm_runtime = Runtime(from_options(environment.parsed_options))
        else:
            environment.llm_runtime = build_runtime(environment)
    except SettingsError as exc:
        fail(str(exc))
    # Loading the tokenizer blocked the event loop for seconds; without this, timers set next
    # (Locust's --run-time among them) count from the loop's stale clock and fire that much early.
    gevent.get_hub().loop.update_now()


@events.test_stopping.add_listener
def on_test_stopping(environment: Environment, **_kw) -> None:
    """Before Locust stops its users: no new request starts, those in flight get up to
    ``--drain-timeout`` seconds to finish, the rest are cancelled; each is counted once.

    Locust's own stop would kill a user blocked in a long stream (``--stop-timeout`` 0) or
    leave it running past the summary. A master first has every worker drain and send what
    it has not reported yet, and waits for those reports (LOCUST-NOTES section 6: otherwise
    the summary misses the workers' last seconds).
    """
    runtime = getattr(environment, "llm_runtime", None)
    if runtime is None:
        return
    if isinstance(environment.runner, MasterRunner):
        drain_workers(environment.runner, runtime.settings.drain_timeout)
        return
    cancelled = IN_FLIGHT.drain(runtime.settings.drain_timeout)
    if cancelled:
        log.info("LLM: %d request(s) still in flight at stop were counted as cancelled", cancelled)


DRAIN_MESSAGE, FINAL_MESSAGE = "llm_drain", "llm_final"
_finals: set[str] = set()


def drain_workers(runner: MasterRunner, timeout: float) -> None:
    """Ask every connected worker to drain, then wait (bounded) for each one's final metrics."""
    workers = {node.id for node in runner.clients.values() if node.state != STATE_MISSING}
    _finals.clear()
    for worker in workers:
        runner.send_message(DRAIN_MESSAGE, {"timeout": timeout}, client_id=worker)
    deadline = time.monotonic() + timeout + 10
    while not workers <= _finals and time.monotonic() < deadline:
        gevent.sleep(0.05)
    if not workers <= _finals:
        log.warning("LLM: %d worker(s) sent no final metrics; the summary may miss their last requests",
                    len(workers - _finals))


def on_drain(environment: Environment, msg) -> None:
    """Worker: drain, then send the master everything not yet reported."""
    runtime = get_runtime(environment)
    IN_FLIGHT.drain(msg.data["timeout"])
    final, runtime.pending = runtime.pending, LlmMetrics()
    environment.runner.send_message(FINAL_MESSAGE, final.to_dict())


def on_final(environment: Environment, msg) -> None:
    """Master: a worker's last metrics."""
    get_runtime(environment).metrics.merge(LlmMetrics.from_dict(msg.data))
    _finals.add(msg.node_id)


@events.init.add_listener
def _register_messages(environment: Environment, **_kw) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(FINAL_MESSAGE, on_final)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(DRAIN_MESSAGE, on_drain, concurrent=True)


@events.test_start.add_listener
def on_test_start(environment: Environment, **_kw) -> None:
    """Options may have changed in the web UI's start form: rebuild the runtime if they did."""
    IN_FLIGHT.reopen()
    gc.collect()
    gc.freeze()  # start-up objects (tokenizer, corpus) leave the collector's view: shorter pauses mid-stream
    old = getattr(environment, "llm_runtime", None)
    if isinstance(environment.runner, MasterRunner) or old is None:
        return
    try:
        if from_options(environment.parsed_options) == old.requested:
            return
        runtime = build_runtime(environment)
    except SettingsError as exc:
        log.error("LLM settings: %s", exc)
        return
    runtime.metrics, runtime.pending = old.metrics, old.pending
    old.close()
    environment.llm_runtime = runtime


class LocustReporter:
    """Fires a user's records into Locust's stats and counts them in the exact metrics."""

    def __init__(self, environment: Environment, runtime: Runtime, path: str, traffic_class: str) -> None:
        self._fire = environment.events.request.fire
        self._runtime = runtime
        self._worker = isinstance(environment.runner, WorkerRunner)
        self._name = f"{path} [{traffic_class}]"
        self._ttft_name = f"TTFT [{traffic_class}]"
        self._itl_name = f"ITL [{traffic_class}]"
        self._itl_log = environment.stats.get(self._itl_name, "LLM").log
        self._per_token = runtime.settings.per_token_stats

    def first_token(self, record: RequestRecord, ttft: float) -> None:
        self._fire(request_type="LLM", name=self._ttft_name, response_time=ttft * 1000,
                   response_length=0, exception=None, context={})

    def token(self, record: RequestRecord, gap: float) -> None:
        """Each inter-token gap goes straight into its stats row (the Aggregated row and other
        request listeners leave it out): a full request event per token would cost three times
        as much on the path that caps the whole tool (LOCUST-NOTES section 3)."""
        if self._per_token:
            self._itl_log(gap * 1000, 0)

    def retried(self, record: RequestRecord) -> None:
        """A 429/503 attempt that was sent again: its own stats row, and the metrics' retry count."""
        self._fire(request_type="RETRY", name=self._name, response_time=record.e2e * 1000,
                   response_length=record.response_bytes, exception=LLMRequestError(record.error), context={})
        runtime = self._runtime
        (runtime.pending if self._worker else runtime.metrics).add_retry(record)
        if runtime.request_log is not None:
            runtime.request_log.write(record, retried=True)

    def done(self, record: RequestRecord) -> None:
        exception = None if record.ok else LLMRequestError(record.error)
        self._fire(request_type="POST", name=self._name, response_time=record.e2e * 1000,
                   response_length=record.response_bytes, exception=exception, context={})
        runtime = self._runtime
        (runtime.pending if self._worker else runtime.metrics).add(record)
        if runtime.request_log is not None:
            runtime.request_log.write(record)


def reporter_for(environment: Environment, path: str, traffic_class: str) -> LocustReporter:
    return LocustReporter(environment, get_runtime(environment), path, traffic_class)


@events.report_to_master.add_listener
def on_report_to_master(client_id: str, data: dict) -> None:
    runtime = _runtime_of_current()
    if runtime is not None and runtime.pending.requests:
        data[REPORT_KEY] = runtime.pending.to_dict()
        runtime.pending = LlmMetrics()


@events.worker_report.add_listener
def on_worker_report(client_id: str, data: dict) -> None:
    runtime = _runtime_of_current()
    if runtime is not None and REPORT_KEY in data:
        runtime.metrics.merge(LlmMetrics.from_dict(data[REPORT_KEY]))


_ENV: list[Environment] = []


@events.init.add_listener
def _remember_environment(environment: Environment, **_kw) -> None:
    _ENV[:] = [environment]


def _runtime_of_current() -> Runtime | None:
    return getattr(_ENV[0], "llm_runtime", None) if _ENV else None


@events.quitting.add_listener
def on_quitting(environment: Environment, **_kw) -> None:
    """Write the LLM summary's JSON now and print its table last, after Locust's own tables
    (master or standalone, not workers)."""
    runtime = getattr(environment, "llm_runtime", None)
    if runtime is None or isinstance(environment.runner, WorkerRunner) or not runtime.metrics.requests:
        return
    summary = summarize(runtime.metrics)
    summary["model"] = runtime.settings.model
    summary["target"] = str(runtime.settings.target)
    lines = [format_table(summary)]
    if runtime.settings.summary_json:
        write_json(summary, runtime.settings.summary_json)
        lines.append(f"LLM summary written to {runtime.settings.summary_json}")
    atexit.register(print, "\n".join(lines), flush=True)
