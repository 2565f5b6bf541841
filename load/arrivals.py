"""Open-loop arrivals: requests start at a rate that holds whatever the server's latency.

Closed-loop users (the next request when the last one ends) offer less load as the server
slows, so their figures cannot be held against ``vllm bench serve --request-rate`` or
guidellm's constant and Poisson rates. Here one producer greenlet per process draws the gaps
between arrivals from a gamma distribution (shape ``burstiness``: 1 is Poisson, as in vLLM's
benchmark; larger is more regular, ``inf`` evenly spaced; smaller is burstier) at the rate
``rate(t)`` asks for at each moment, on an absolute schedule (a late wake-up does not push
later arrivals back). Each arrival waits in a queue until a user is free to send it: the
users (``-u``) cap the requests in flight, as vLLM's ``--max-concurrency``, and the time an
arrival waited (its queue time) is measured, so a client that cannot keep up shows it
rather than hiding it (coordinated omission).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from time import perf_counter

import gevent
from gevent.queue import Queue

from transport.inflight import Gate


class Closed(Exception):  # noqa: N818 - a signal to the caller, not an error
    """The stop gate closed while waiting for an arrival: send nothing."""


def gamma_gap(rng: random.Random, rate: float, burstiness: float) -> float:
    """Seconds to the next arrival at ``rate`` per second: gamma with mean 1/rate, shape ``burstiness``."""
    if math.isinf(burstiness):
        return 1.0 / rate
    return rng.gammavariate(burstiness, 1.0 / (rate * burstiness))


class Arrivals:
    """The arrivals of this process, handed to users as they become free."""

    def __init__(
        self, rate: Callable[[float], float], burstiness: float, seed: int, gate: Gate
    ) -> None:
        self.rate = rate
        """Requests per second this process starts, ``t`` seconds into the run."""
        self.burstiness = burstiness
        self._rng = random.Random(seed)
        self._gate = gate
        self._queue: Queue = Queue()
        self._producer: gevent.Greenlet | None = None
        self.produced = 0
        self.t0 = 0.0
        gate.on_close(self._wake_all)

    def start(self) -> None:
        """Arrivals begin now (a run starts)."""
        if self._producer is not None and not self._producer.dead:
            return
        self.t0 = perf_counter()
        self._producer = gevent.spawn(self._produce)

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.kill(block=False)

    def _produce(self) -> None:
        t0 = self.t0
        due = t0
        while not self._gate.closed:
            rate = self.rate(due - t0)
            if math.isinf(rate):  # closed loop for now (a sweep's saturation step): take() never waits
                gevent.sleep(0.05)
                due = perf_counter()
                continue
            if rate <= 0:
                due += 0.1  # a pause in the shape: look again shortly
                gevent.sleep(max(due - perf_counter(), 0))
                continue
            due += gamma_gap(self._rng, rate, self.burstiness)
            wait = due - perf_counter()
            if wait > 0:
                gevent.sleep(wait)
            if self._gate.closed:
                return
            self.produced += 1
            self._queue.put(due)

    def take(self) -> float:
        """Wait for the next arrival; its scheduled time (``perf_counter``). Raises :class:`Closed`
        when the stop gate closes first."""
        now = perf_counter()
        if math.isinf(self.rate(now - self.t0)):
            if self._gate.closed:
                raise Closed
            return now
        due = self._queue.get()
        if due is None:
            self._queue.put(None)  # the stop: wake the next waiting user too
            raise Closed
        return due

    @property
    def waiting(self) -> int:
        """Arrivals no free user has taken yet."""
        return self._queue.qsize()

    def _wake_all(self) -> None:
        self._queue.put(None)

    def reopen(self) -> None:
        """Before a new run: drop what the last one left queued."""
        self._queue = Queue()
