"""The base streaming chat user: build a body, stream the answer, report it once."""

from __future__ import annotations

from time import perf_counter

from gevent import GreenletExit
from locust import User, constant, task

from load.arrivals import Closed
from plugin.hooks import lifecycle_of
from streaming.record import RequestRecord
from transport.client import StopRequested


class ChatUser(User):
    """A simulated client of an OpenAI-compatible endpoint.

    Subclasses say what they send by overriding :meth:`next_request`; the loop, timing
    and reporting are shared. The host, model, lengths and timeouts come from the
    command line, conf files or the web UI (see ``--help``).
    """

    abstract = True
    wait_time = constant(0)
    traffic_class: str = "text"
    """Label of this traffic in stats and reports (per-class rows)."""
    sends_images: bool = False
    """True for users whose requests carry images (refused by text-only targets and endpoints)."""

    def on_start(self) -> None:
        self.lifecycle = lifecycle = lifecycle_of(self.environment)
        self.runtime = lifecycle.require_runtime()
        self.path = self.runtime.settings.endpoint
        reporter = lifecycle.reporter_for(self.path, self.traffic_class)
        self.client = self.runtime.new_client(reporter, lifecycle.inflight)
        self.client.http.preconnect()  # a burst of first requests should not also be a burst of connects

    def on_stop(self) -> None:
        self.client.http.close()

    @task
    def run_task(self) -> None:
        try:
            self.chat()
        except StopRequested:
            raise GreenletExit from None  # the test is stopping: this user ends, nothing in flight

    def pause(self, seconds: float) -> None:
        """Think time that a stop cuts short (and then ends the user)."""
        if not self.client.inflight.gate.wait(seconds):
            raise StopRequested

    def chat(self) -> None:
        """Send one request and wait for its whole answer."""
        body, record = self.next_request()
        self.send(body, record)

    def send(self, body: dict, record: RequestRecord) -> None:
        """Send ``body`` (open loop: at its arrival, once this user is free) and read its answer."""
        arrivals = self.lifecycle.load.arrivals
        if arrivals is not None:
            try:
                due = arrivals.take()
            except Closed:
                raise StopRequested from None
            record.queue_time = max(perf_counter() - due, 0.0)
        self.client.send(self.path, body, record)

    def next_request(self) -> tuple[dict, RequestRecord]:
        """The next body to send and the record that will measure it."""
        raise NotImplementedError
