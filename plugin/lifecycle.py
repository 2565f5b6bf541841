"""One lifecycle for a run: start, drain and stop, whichever way the run ends.

Locust ends a run along several paths, and they do not meet where a summary could be
written: ``-t`` and the web UI's Stop call the runner's ``stop`` (``test_stopping``, then
the users are stopped, then ``test_stop``); Ctrl-C and SIGTERM fire ``quitting`` *before*
the runner is stopped, and a master's ``quitting`` comes before its workers' last reports.
So this object owns the order on every path:

1. **start** (``test_start``): fresh LLM figures for the run (each web UI run, Start, New
   or Reset, counts only its own requests), the stop gate opens, the runtime is (re)built
   from the options the run was started with.
2. **drain** (``test_stopping``): the gate closes, so no request, retry or conversation turn
   starts; requests in flight get ``--drain-timeout`` seconds, then are cancelled and
   counted. A master has every worker drain and waits for each one's final metrics.
3. **summary** (``test_stop``): computed once, after 2, and kept.
4. **quit** (``quitting``): a run still going (Ctrl-C, SIGTERM) is stopped first, through 2
   and 3; then the summary is written and printed, and the exit code set from the outcomes.

The exit code's rules are :mod:`plugin.outcome`'s.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import secrets
import signal
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import gevent
from locust.env import Environment
from locust.runners import STATE_INIT, STATE_SPAWNING, STATE_STOPPED, MasterRunner, WorkerRunner

from batch.result import BatchResult
from conf.options import default
from conf.settings import ENDPOINTS, Settings, SettingsError, from_options
from metrics.collector import LlmMetrics
from metrics.guard import RepeatedErrorGuard
from metrics.prompt_check import PromptWarnings
from metrics.report import format_table, summarize, write_json
from metrics.timeseries import SETTLE
from payloads.tokenizer import TokenizerError, load_tokenizer
from plugin.distributed import Distributed
from plugin.load import LoadControl
from plugin.outcome import CANCELLED_BY_STOP, EXIT_NOTHING_COUNTED, Facts, exit_code
from plugin.reporter import LocustReporter
from plugin.runtime import Runtime, make_sampler, probe_target
from reports.csv import RequestCsv, requests_path
from reports.locust_files import write_reports
from reports.progress import Progress
from reports.slo import evaluate, format_results, to_json
from servermetrics import ServerMetricsScraper, beside_client, format_block, scraper_for
from streaming.record import RequestRecord
from transport.inflight import InFlight

log = logging.getLogger("llm")
RECENT_ROWS = 20_000
"""Per-request rows kept for the web UI's download (about 1 KB each: some 20 MB at most)."""
T = TypeVar("T")



class Lifecycle:
    """The LLM side of one Locust process (local, master or worker) across its runs."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.inflight = InFlight()
        self.runtime: Runtime | None = None
        self.recent_rows: deque[list] = deque(maxlen=RECENT_ROWS)
        """This run's last per-request rows (``reports.csv.REQUEST_COLUMNS``), for the web UI's
        download (a master or local process)."""
        self.metrics = self.new_metrics()
        """This run's figures: everything counted here (a master: merged from its workers)."""
        self.pending = self.new_metrics()
        """A worker's figures not yet sent to the master."""
        self.summary: dict | None = None
        """The last run's summary, computed once when it stopped."""
        self.runs = 0
        self._seed_given = False
        self._ticker: gevent.Greenlet | None = None
        self.progress: Progress | None = None
        """A headless run's progress line on a terminal (None elsewhere)."""
        self.guard = RepeatedErrorGuard(0, enabled=False)
        self.prompt_warnings = PromptWarnings()
        self.stopped_early: str | None = None
        """Why the run stopped early (an error that would only repeat), or None."""
        self.distributed = Distributed(self)
        self.load = LoadControl(self)
        self._printed = False
        self._warming: gevent.Greenlet | None = None
        """A worker's early load of the tokenizer its own options name (see :meth:`init`)."""
        self.server_metrics: ServerMetricsScraper | None = None
        """This run's scraper of the server's /metrics (master or local process; None: off)."""

    # ---- roles ---------------------------------------------------------------------------
    @property
    def is_master(self) -> bool:
        return isinstance(self.environment.runner, MasterRunner)

    @property
    def is_worker(self) -> bool:
        return isinstance(self.environment.runner, WorkerRunner)

    @property
    def headless(self) -> bool:
        return bool(getattr(self.environment.parsed_options, "headless", False))

    # ---- start ---------------------------------------------------------------------------
    def init(self) -> None:
        """At start-up: check the options; where a run starts at once (headless), also the
        target and the model, and build what the run sends. Raises :class:`SettingsError`.

        A worker checks nothing here: it has only ``--master-host``; its settings come from
        the master with each run. The web UI opens without a reachable target: the check
        happens when a run is started from it (:mod:`plugin.webui`).
        """
        self._signals()
        options = self.environment.parsed_options
        if self.is_worker:
            # The tokenizer the master's settings name is nearly always the one the pod's own
            # options name (the shipped one by default): loaded now, it is cached by the time a
            # run starts, which then builds only its prompts (a worker took 4.5 s from the
            # master's spawn message to its first request on this 2-core machine, most of it
            # the tokenizer, against 50 ms of the run's first request).
            self._warming = gevent.spawn(_warm_tokenizer, getattr(options, "tokenizer", None))
            return
        self._seed_given = getattr(options, "seed", None) is not None
        if not self._seed_given:
            options.seed = secrets.randbelow(2**31)  # a fresh seed each run; printed in the summary
        settings = self.check(options)
        if self.headless:
            self.resolve_model(settings)
            if not self.is_master:
                self.runtime = self.build(self.check(options))

    def _signals(self) -> None:
        """Ctrl-C reaches the main greenlet, where Locust's own stop path catches it.

        Python raises a SIGINT's ``KeyboardInterrupt`` in whichever greenlet happens to run, a
        user mid-stream as often as not: that user died with its request uncounted (seen: 15
        of 16 served requests on a worker). Here the signal is handled by the event loop and
        thrown into the main greenlet, as gevent passes on its own system errors. And while a
        headless master still waits for ``--expect-workers`` (Locust has no handler then: a
        traceback for Ctrl-C, a silent kill for SIGTERM), either signal ends it with one line
        and exit code 3; once the run has started, Locust's own SIGTERM handler applies.
        """
        hub = gevent.get_hub()
        runner = self.environment.runner
        waiting_master = self.is_master and self.headless

        def waiting() -> bool:
            return waiting_master and runner.state == STATE_INIT and not self.runs

        def give_up() -> None:
            joined = len(runner.clients.ready)
            expected = getattr(self.environment.parsed_options, "expect_workers", 1)
            log.error("LLM: stopped before the run started: %d of %d worker(s) joined", joined, expected)
            hub.loop.run_callback(hub.parent.throw, SystemExit(EXIT_NOTHING_COUNTED))

        def on_sigint() -> None:
            if waiting():
                give_up()
            else:
                hub.loop.run_callback(hub.parent.throw, KeyboardInterrupt)

        gevent.signal_handler(signal.SIGINT, on_sigint)
        if waiting_master:
            gevent.signal_handler(signal.SIGTERM, lambda: waiting() and give_up())

    def check(self, options, host: str | None = None) -> Settings:
        """The settings ``options`` give, checked against the run's user classes."""
        settings = from_options(options, host=host or self.environment.host)
        check_user_classes(settings, self.environment.user_classes)
        return settings

    def resolve_model(self, settings: Settings, options=None) -> None:
        """Check the target answers; without ``--model``, take the first it lists, and put it
        in the options so workers (which get the master's options) send the same one."""
        listed = probe_target(settings)
        if not settings.model:
            if listed is None:
                raise SettingsError(f"--host {settings.target}: /v1/models lists no model; pass --model NAME")
            (options or self.environment.parsed_options).model = listed

    def build(self, settings: Settings) -> Runtime:
        """The tokenizer, the request sampler and the image pools for ``settings``.

        The tokenizer, the prompt pool and the image pool are built on a thread of gevent's
        pool: built on the event loop the first two held it for 1.7 s (measured), and 24 JPEGs
        of 1920x1080 for 5.5 s, long enough for a worker to miss the master's heartbeats and
        for the web UI to stop answering; on a thread the loop's longest gap was 0.18 s.
        """
        if self._warming is not None:
            self._warming.join()  # one load of a tokenizer at a time: the second is then cached
        try:
            tokenizer = off_loop(load_tokenizer, settings.tokenizer)
        except TokenizerError as exc:
            raise SettingsError(str(exc)) from None
        index = self.worker_index
        sampler = off_loop(make_sampler, settings, tokenizer, index or 0)
        runtime = Runtime(settings, tokenizer, sampler, worker=index)
        traffic = {getattr(c, "traffic_class", "text") for c in self.environment.user_classes}
        runtime.prepare(traffic, off_loop)
        return runtime

    @property
    def worker_index(self) -> int | None:
        """This worker's index from the master (None outside a worker): offsets seeds, names files."""
        return (getattr(self.environment.runner, "worker_index", 0) or 0) if self.is_worker else None

    def test_start(self) -> None:
        """A run starts: fresh figures, the gate open, the runtime built for its options.

        Locust marks the run as spawning only after this event; building a runtime takes
        seconds, and a web UI that polled meanwhile read "ready" (or "stopped"), took the run
        for not started, showed the start form again and stopped polling. So a run being
        started says so from here on."""
        runner = self.environment.runner
        if not self.is_worker and runner.state in (STATE_INIT, STATE_STOPPED):
            runner.update_state(STATE_SPAWNING)
        self.runs += 1
        self.metrics, self.pending, self.summary = self.new_metrics(), self.new_metrics(), None
        self.distributed.run_started()
        self.inflight.gate.reopen()
        if not self.is_worker and not self._prepare_options():
            return
        if not self.is_master:
            self._ensure_runtime()
        settings = self._settings()
        if settings is not None and not self.is_worker:
            self._start_server_metrics(settings)
        if settings is not None:
            if not self.is_worker:
                self.load.share_options(settings)
            self.load.run_started(settings)
            self.guard = RepeatedErrorGuard(settings.repeated_error_requests, settings.stop_on_repeated_error)
        self.prompt_warnings = PromptWarnings()
        self.stopped_early = None
        if not self.is_worker:
            self.progress = Progress.for_run(self.environment.parsed_options, time.time(), self.is_master)
        if self._ticker is None or self._ticker.dead:
            self._ticker = gevent.spawn(self._tick)
        gc.collect()
        gc.freeze()  # start-up objects (tokenizer, corpus) leave the collector's view: shorter pauses
        # Building blocked the event loop; timers set next (Locust's --run-time) count from now.
        gevent.get_hub().loop.update_now()

    def _start_server_metrics(self, settings: Settings) -> None:
        """``--server-metrics``: one scraper a run, in the master or the local process only."""
        if self.server_metrics is not None:  # a run that never reached test_stop
            self.server_metrics.stop()
        self.server_metrics = scraper_for(settings)
        if self.server_metrics is not None:
            self.server_metrics.start()

    def _prepare_options(self) -> bool:
        """Master or local, before the run's options go out: a fresh seed for each web UI run
        (unless ``--seed`` was given) and the model, when none was named. False: cannot run."""
        options = self.environment.parsed_options
        if self.runs > 1 and not self._seed_given:
            options.seed = secrets.randbelow(2**31)
        if options.model:
            return True
        try:
            self.resolve_model(self.check(options))
        except SettingsError as exc:
            log.error("LLM settings: %s", exc)
            gevent.spawn(self.environment.runner.stop)
            return False
        return True

    def _ensure_runtime(self) -> None:
        options = self.environment.parsed_options
        try:
            settings = from_options(options, host=self.environment.host)
            if self.runtime is not None and self.runtime.settings == settings:
                return
            runtime = self.build(settings)
        except SettingsError as exc:
            # The master checked these options; a worker that cannot use them (a file only the
            # master has, say) leaves the run, and a local run stops.
            log.error("LLM settings: %s", exc)
            runner = self.environment.runner
            gevent.spawn(runner.quit if self.is_worker else runner.stop)
            return
        if self.runtime is not None:
            self.runtime.close()
        self.runtime = runtime

    def _tick(self) -> None:
        """Once a second, mid-second: sample the requests in flight into this second's slot (so
        the slots of several workers add up), and collapse the master's settled seconds."""
        while True:
            gevent.sleep(1.5 - time.time() % 1)
            now = time.time()
            if not self.is_master:
                into = self.pending if self.is_worker else self.metrics
                into.series.sample_in_flight(int(now), self.inflight.by_label())
            if not self.is_worker:
                self.metrics.series.collapse(now - SETTLE)
                if self.progress is not None:
                    self.progress.show(self.metrics, now)

    def reset(self) -> None:
        """Locust's stats were reset (the web UI's Reset): the LLM figures start again too."""
        self.metrics, self.pending = self.new_metrics(), self.new_metrics()
        self.distributed.reset_workers()

    def new_metrics(self) -> LlmMetrics:
        """Fresh LLM figures, judged against the run's ``--goodput`` bounds. A worker keeps each
        request's CSV row to ship with its reports (its master alone knows ``--csv``: Locust sends
        workers only the options it does not define); a local run or a master writes it to
        ``PREFIX_llm_requests.csv``, opened anew for each run."""
        runs = getattr(self, "runs", 0)  # (None yet while __init__ runs)
        settings = self._settings() if runs else None
        goodput = settings.goodput if settings is not None else None
        if self.is_worker:
            return LlmMetrics(goodput, keep_rows=True)
        prefix = getattr(self.environment.parsed_options, "csv_prefix", None)
        rows: RequestCsv | None = getattr(self, "requests_csv", None)
        if prefix and runs and getattr(self, "_requests_csv_run", 0) != runs:
            if rows is not None:
                rows.close()
            rows = self.requests_csv = RequestCsv(requests_path(prefix))
            self._requests_csv_run = runs
        self.recent_rows.clear()
        recent = self.recent_rows.append
        if rows is None or not prefix:
            return LlmMetrics(goodput, rows=recent)
        write = rows.write

        def sink(row: list) -> None:
            recent(row)
            write(row)

        return LlmMetrics(goodput, rows=sink)

    # ---- counting --------------------------------------------------------------------------
    def reporter_for(self, path: str, traffic_class: str) -> LocustReporter:
        runtime = self.require_runtime()
        return LocustReporter(self.environment, path, traffic_class, self.count,
                              per_token=runtime.settings.per_token_stats)

    def require_runtime(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError("the LLM runtime was not built (import plugin.hooks in the locustfile)")
        return self.runtime

    def count(self, record: RequestRecord, retried: bool) -> None:
        """Count one finished request (or one retried attempt), exactly once."""
        runtime = self.runtime
        if runtime is not None and runtime.request_log is not None:
            runtime.request_log.write(record, retried=retried)
        if not self.load.counts(record):
            return
        into = self.pending if self.is_worker else self.metrics
        if retried:
            into.add_retry(record)
        else:
            into.add(record, self.load.step_of(record))
        if not retried:
            self.prompt_warnings.see(record)
            reason = self.guard.feed(record)
            if reason is not None:
                self.stop_early(reason)

    def count_batch(self, result: BatchResult) -> None:
        """Count one finished batch of the Batch API workload, exactly once."""
        (self.pending if self.is_worker else self.metrics).add_batch(result)

    def stop_early(self, reason: str) -> None:
        """An error that will only repeat: stop the run (a worker asks its master to)."""
        if self.stopped_early is not None:
            return
        self.stopped_early = reason
        log.error("LLM: stopping early: %s", reason)
        if self.is_worker:
            self.distributed.ask_master_to_stop(reason)
            return
        runner = self.environment.runner
        gevent.spawn(runner.quit if self.headless else runner.stop)

    # ---- stop ------------------------------------------------------------------------------
    def test_stopping(self) -> None:
        """Drain: nothing new starts; in-flight requests finish or are cancelled and counted."""
        self.load.stopping()
        timeout = self._drain_timeout()
        if self.is_master:
            self.distributed.drain_workers(timeout)
            return
        cancelled = self.inflight.drain(timeout)
        if cancelled:
            log.info("LLM: %d request(s) still in flight at the stop were counted as cancelled", cancelled)

    def _drain_timeout(self) -> float:
        settings = self._settings()
        return settings.drain_timeout if settings is not None else default("drain_timeout")

    def test_stop(self) -> None:
        """The run stopped and drained: compute its summary, once."""
        if self._ticker is not None:
            self._ticker.kill(block=False)
        if self.progress is not None:
            self.progress.close()
        self.load.stop()
        if self.is_worker or not self.runs or self.summary is not None:
            return  # (a master may see two stops: its own, and the last worker's leaving)
        self.summary = self._summarize()
        rows: RequestCsv | None = getattr(self, "requests_csv", None)
        if rows is not None:
            rows.close()  # every request is in: the drain is over, every worker's final metrics came
        if not self.headless:
            self._write(self.summary)
            log.info("LLM run %d finished:%s", self.runs, format_table(self.summary))
        if self.is_master:
            self.distributed.after_stop()

    def _summarize(self) -> dict:
        settings = self._settings()
        summary = summarize(self.metrics, CANCELLED_BY_STOP)
        if self.server_metrics is not None:
            summary["server_metrics"] = beside_client(self.server_metrics.stop(), summary)
            self.server_metrics = None
        summary["model"] = settings.model if settings else ""
        summary["target"] = str(settings.target) if settings else str(self.environment.host)
        summary["seed"] = settings.seed if settings else None
        if self.is_master:
            summary.update(self.distributed.summary_fields())
        if settings is not None:
            summary.update(self.load.summary_fields(summary, settings))
        if summary.get("goodput_unjudged"):
            log.warning("LLM: %d request(s) came from metrics without the --goodput bounds: not judged",
                        summary["goodput_unjudged"])
        if settings is not None and settings.slos:
            summary["slos"] = to_json(evaluate(settings.slos, summary))
        return summary

    def _settings(self) -> Settings | None:
        if self.runtime is not None:
            return self.runtime.settings
        try:
            return from_options(self.environment.parsed_options, host=self.environment.host)
        except SettingsError:
            return None

    def _write(self, summary: dict) -> None:
        settings = self._settings()
        if settings is not None and settings.summary_json:
            write_json(summary, settings.summary_json)

    def quitting(self) -> None:
        """The process quits: stop a run still going (drain, summary), then report."""
        runner = self.environment.runner
        if self.is_worker:
            self.distributed.worker_quitting()
            return
        if runner is not None and runner.state not in (STATE_INIT, STATE_STOPPED):
            runner.quit()  # Ctrl-C, SIGTERM: the drain and the summary happen now, in order
        if self.summary is None:
            if self.headless and not self.runs:
                log.error("LLM: the run never started%s", " (no worker joined)" if self.is_master else "")
                self.environment.process_exit_code = EXIT_NOTHING_COUNTED
            return
        self.environment.process_exit_code = self.exit_code(self.summary)
        self._write(self.summary)
        try:
            written = write_reports(self.environment, self.summary)
        except OSError as exc:
            log.error("LLM: could not write the reports: %s", exc)
            written = []
        self._print_at_exit(self.summary, written)

    def exit_code(self, summary: dict) -> int:
        """The process's exit code from the run's final outcomes (:func:`plugin.outcome.exit_code`)."""
        runner = self.environment.runner
        settings = self._settings()
        facts = Facts(
            stopped_early=self.stopped_early is not None,
            user_exceptions=len(runner.exceptions) if runner is not None else 0,
            fail_on_worker_loss=settings is not None and settings.fail_on_worker_loss,
        )
        code = exit_code(summary, facts)
        if code == EXIT_NOTHING_COUNTED:
            log.error("LLM: the run counted no request%s", self.distributed.why_nothing())
        return code

    def _print_at_exit(self, summary: dict, written: list[str] | None = None) -> None:
        """Print the LLM table last, after Locust's own tables, then the SLOs and the files."""
        if self._printed:
            return
        self._printed = True
        lines = [format_table(summary)]
        if "server_metrics" in summary:
            lines.append(format_block(summary["server_metrics"]))
        if summary.get("slos"):
            lines.append(format_results(summary["slos"]))
        settings = self._settings()
        if settings is not None and settings.summary_json:
            lines.append(f"LLM summary written to {settings.summary_json}")
        rows: RequestCsv | None = getattr(self, "requests_csv", None)
        if rows is not None:
            lines.append(f"LLM requests written to {rows.path} ({rows.rows} rows)")
        lines += [f"LLM report written to {path}" for path in written or []]
        atexit.register(print, "\n".join(lines), flush=True)


def _warm_tokenizer(name: str | None) -> None:
    """Load (and so cache) a tokenizer ahead of a run; a failure is reported by the run's own load."""
    with contextlib.suppress(Exception):  # the run's load of the same tokenizer says what failed
        off_loop(load_tokenizer, name)


def off_loop(fn: Callable[..., T], *args) -> T:
    """``fn(*args)`` on a thread of gevent's pool, the event loop free meanwhile; its exception
    is raised here (gevent's pool would also print it as a traceback: a user mistake must not)."""

    def call() -> tuple[T | None, Exception | None]:
        try:
            return fn(*args), None
        except Exception as exc:  # noqa: BLE001 - handed back to the caller as it is
            return None, exc

    result, error = gevent.get_hub().threadpool.apply(call)
    if error is not None:
        raise error
    return result  # type: ignore[return-value]


def check_user_classes(settings: Settings, user_classes: list) -> None:
    """Image traffic needs a chat endpoint on a target that takes images."""
    image_classes = sorted(c.__name__ for c in user_classes if getattr(c, "sends_images", False))
    if not image_classes:
        return
    if settings.endpoint != ENDPOINTS["chat"]:
        raise SettingsError(f"--endpoint completions: {', '.join(image_classes)} send images, which only "
                            "/v1/chat/completions takes; use --endpoint chat or text users only")
    if settings.text_only:
        raise SettingsError(f"--text-only: the target takes no images, but {', '.join(image_classes)} "
                            "send them; pick text users only")

