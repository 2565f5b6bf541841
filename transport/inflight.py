"""The requests a process has in flight: their timeouts, their cancellation, and a clean stop.

Each request is a :class:`Flight` that carries its own cancellation. One watchdog greenlet
checks every flight a few times a second against the arrival time the stream reader keeps
anyway (so the per-token path pays nothing: a socket timeout would arm a gevent timer on
every read) and cancels the flight that is overdue: the idle, first-token and whole-request
timeouts all go through it.

Cancelling throws :class:`RequestCancelled` into the flight's greenlet from the event
loop, and only if that greenlet is still on *that* flight when the throw happens. A plain
``gevent.kill`` is delivered later, by which time the user may be on its next request, and
would end that one instead.

The :class:`Gate` is how a stop reaches every request: once it closes, no request starts,
a retry waiting for its ``Retry-After`` gives up, a multi-turn user's think time ends, and
:meth:`InFlight.drain` waits for the flights left, then cancels them; each one is still
reported exactly once by its client.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

import gevent
from gevent.event import Event

CANCELLED_AT_STOP = "cancelled: test stopped mid-request"
CANCELLED_BEFORE_RETRY = "cancelled: test stopped before a retry was sent"


class RequestCancelled(BaseException):
    """Ends one request; ``reason`` is its failure reason.

    A ``BaseException`` (as gevent's own ``Timeout``), so no ``except Exception`` on the way
    (the HTTP library's, ours) mistakes it for a transport error.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Gate:
    """Open while the test runs; closed from the moment a stop begins until the next start."""

    def __init__(self) -> None:
        self._closed = Event()
        self._on_close: list[Callable[[], None]] = []

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the gate closes (to wake what waits on something else)."""
        self._on_close.append(callback)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        for callback in self._on_close:
            callback()

    def reopen(self) -> None:
        self._closed.clear()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early if the gate closes; True if it is open after."""
        if seconds > 0:
            self._closed.wait(seconds)
        return not self._closed.is_set()


class Flight:
    """One request in flight, retries included: its deadlines and where its progress is read."""

    __slots__ = ("greenlet", "label", "t_start", "last_arrival", "has_token", "idle", "first", "total",
                 "waiting", "cancelled")

    def __init__(
        self, idle: float, first: float | None = None, total: float | None = None, label: str = ""
    ) -> None:
        self.greenlet = gevent.getcurrent()
        self.label = label
        """The request's traffic class (requests in flight are counted per class)."""
        self.idle = idle
        self.first = first
        """Seconds to the first token (None: no limit)."""
        self.total = total
        """Seconds for the whole attempt (None: no limit)."""
        self.t_start = perf_counter()
        self.last_arrival: Callable[[], float] = lambda: 0.0
        """The arrival time of the current attempt's latest bytes (0.0 before any)."""
        self.has_token: Callable[[], bool] = lambda: False
        self.waiting = False
        """True while the request waits to be sent again (no timeout runs then)."""
        self.cancelled = False

    def attempt(
        self, t_start: float, last_arrival: Callable[[], float], has_token: Callable[[], bool]
    ) -> None:
        """A new attempt starts: its timeouts count from ``t_start``."""
        self.t_start, self.last_arrival, self.has_token = t_start, last_arrival, has_token
        self.waiting = False

    def overdue(self, now: float) -> str | None:
        """The timeout this flight has run past at ``now``, as a failure reason, or None."""
        if self.waiting or self.cancelled:
            return None
        if self.total is not None and now - self.t_start > self.total:
            return f"timeout: request took over {self.total:g} s"
        if self.first is not None and not self.has_token() and now - self.t_start > self.first:
            return f"timeout: no first token within {self.first:g} s"
        if now - max(self.last_arrival(), self.t_start) > self.idle:
            return f"timeout: no bytes for {self.idle:g} s"
        return None


class InFlight:
    """Every flight of this process, the watchdog over them, and the stop gate."""

    def __init__(self, period: float = 0.1) -> None:
        self.period = period
        self.gate = Gate()
        self._flights: dict[gevent.Greenlet, Flight] = {}
        self._watchdog: gevent.Greenlet | None = None

    def __len__(self) -> int:
        return len(self._flights)

    def by_label(self) -> dict[str, int]:
        """Requests in flight now, per traffic class."""
        counts: dict[str, int] = {}
        for flight in self._flights.values():
            counts[flight.label] = counts.get(flight.label, 0) + 1
        return counts

    def begin(self, flight: Flight) -> None:
        """Track ``flight`` (the current greenlet's request) until :meth:`end`."""
        self._flights[flight.greenlet] = flight
        if self._watchdog is None or self._watchdog.dead:
            self._watchdog = gevent.spawn(self._watch)

    def end(self, flight: Flight) -> None:
        """The flight's request was reported: stop tracking it."""
        if self._flights.get(flight.greenlet) is flight:
            del self._flights[flight.greenlet]

    def cancel(self, flight: Flight, reason: str) -> None:
        """End ``flight`` with ``reason``, if it is still in flight when the loop gets to it."""

        def throw() -> None:
            if self._flights.get(flight.greenlet) is flight and not flight.cancelled:
                flight.cancelled = True
                flight.greenlet.throw(RequestCancelled(reason))

        gevent.get_hub().loop.run_callback(throw)

    def _watch(self) -> None:
        while self._flights:
            gevent.sleep(self.period)
            now = perf_counter()
            for flight in list(self._flights.values()):
                reason = flight.overdue(now)
                if reason is not None:
                    self.cancel(flight, reason)

    def drain(self, timeout: float) -> int:
        """Close the gate, wait up to ``timeout`` s for the flights left, cancel the rest.

        Returns how many were cancelled. Each is reported (as a failure) by its client before
        this returns, or within 5 s more if its greenlet is slow to come back.
        """
        self.gate.close()
        deadline = perf_counter() + timeout
        while self._flights and perf_counter() < deadline:
            gevent.sleep(0.02)
        left = list(self._flights.values())
        for flight in left:
            self.cancel(flight, CANCELLED_AT_STOP)
        deadline = perf_counter() + 5
        while self._flights and perf_counter() < deadline:
            gevent.sleep(0.01)
        return len(left)
