"""Batch API traffic: JSONL files of chat requests, run as batches one after another."""

from __future__ import annotations

import logging

import gevent
from gevent import GreenletExit
from locust import User, constant, events, task
from locust.runners import WorkerRunner

from batch.client import BatchRun, PollPolicy
from batch.http import BatchHttp
from batch.jsonl import BatchInput, build_input
from batch.options import EvenShare
from payloads.batch_lines import batch_lines
from plugin.batch_reporter import BatchRows
from plugin.hooks import lifecycle_of
from transport.inflight import Flight, Gate, RequestCancelled

log = logging.getLogger("llm")


class BatchUser(User):
    """Uploads ``--batch-lines`` chat requests as a JSONL file, creates a batch of them, polls it to
    its end (cancelling ``--batch-cancel-share`` of them at their first poll), checks its files, then
    starts the next. Lines come from the payload factory (``--input-len`` prompts, with
    ``--batch-images`` images) or ``--dataset``; see the README, "Batch API".
    """

    wait_time = constant(0)
    traffic_class: str = "batch"
    """Label of this traffic in Locust's rows."""

    def on_start(self) -> None:
        self.lifecycle = lifecycle_of(self.environment)
        self.runtime = self.lifecycle.require_runtime()
        s = self.runtime.settings
        self.options = s.batch
        target = s.target
        self.http = BatchHttp(target.scheme, target.host, target.port, target.prefix, s.auth_headers(),
                              connect_timeout=s.connect_timeout, read_timeout=s.idle_timeout,
                              verify_tls=s.verify_tls)
        self.rows = BatchRows(self.environment, self.traffic_class)
        self.cancels = EvenShare(self.options.cancel_share)
        self.batches = 0

    def on_stop(self) -> None:
        self.http.close()

    @task
    def run_batch(self) -> None:
        inflight = self.lifecycle.inflight
        if inflight.gate.closed:
            raise GreenletExit  # the test is stopping: no new batch
        batch = self.next_input()
        s = self.runtime.settings
        policy = PollPolicy(self.options.poll_interval, self.options.poll_max,
                            stop_wait=max(s.drain_timeout - 1.0, 0.0))
        run = BatchRun(self.http, self.rows.call, batch, GatePacing(inflight.gate),
                       window=self.options.window, cancel=self.cancels.pick(), policy=policy,
                       filename=f"batch-{self.batches}.jsonl")
        flight = Flight(s.idle_timeout)
        flight.waiting = True  # a batch in flight: the stop's drain waits for it, no timeout ends it
        inflight.begin(flight)
        try:
            try:
                result = run.execute()
            except RequestCancelled as exc:  # the drain ran out of time: cancel, and count what there is
                result = run.stopped(exc.reason, wait=False)
            self.rows.batch_done(result)
            self.lifecycle.count_batch(result)
        finally:
            inflight.end(flight)
        if result.outcome == "stopped":
            raise GreenletExit

    def next_input(self) -> BatchInput:
        """The next batch's input file (a one-line error stops the run when it breaks a limit)."""
        self.batches += 1
        runtime, images = self.runtime, self.options.images
        count = self.options.lines or len(getattr(runtime.sampler, "records", ()))
        refs = {"base64": runtime.images.data_uris, "image-url": runtime.images.urls}.get(images)
        lines = batch_lines(count, runtime.sampler.sample, runtime.body_for, refs,
                            runtime.images.options.text_first, tag=str(self.batches))
        try:
            return build_input(lines, runtime.settings.endpoint)
        except ValueError as exc:  # BatchLimitError, PayloadError: the user's options, not a bug
            log.error("LLM batch: %s", exc)
            gevent.spawn(self.environment.runner.quit)
            raise GreenletExit from None


class GatePacing:
    """Waits that the test's stop cuts short (the batch client's pacing)."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    def wait(self, seconds: float) -> bool:
        return self._gate.wait(seconds)

    def sleep(self, seconds: float) -> None:
        gevent.sleep(seconds)


@events.init.add_listener
def _only_when_asked(environment, **_kw) -> None:
    """BatchUser runs when a run asks for it (named on the command line, in ``--config-users`` or
    picked with ``--class-picker``): a run that names no class mixes the chat users only, as before
    batches existed. Locust drops weight-0 classes from the same list in the same way."""
    options = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner):
        return  # a worker runs what the master sends it (its command line may name no class)
    if options is None or options.user_classes or getattr(options, "class_picker", False):
        return
    if "BatchUser" in str(getattr(options, "config_users", None) or ""):
        return
    environment.user_classes[:] = [c for c in environment.user_classes if c is not BatchUser]
