"""The load's settings: open-loop rate, its shapes (ramp, steps), user steps, sweeps, warm-up.

Parsed from the options table's "load" rows into :class:`LoadSettings`; every bad value is a
one-line :class:`ValueError` naming it and what is accepted (the settings module turns it
into its ``SettingsError``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RAMPS = ("linear", "exponential")
SATURATION_SHARES = (0.9, 0.75, 0.6, 0.45, 0.3, 0.15)
"""``--sweep auto``: after a closed-loop step measures the saturation rate, these shares of it."""
AUTO_STEPS = len(SATURATION_SHARES)
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {None: 1.0, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_seconds(flag: str, text: str) -> float:
    """``30``, ``30s``, ``2m``, ``1h``, ``500ms`` -> seconds."""
    match = _SPAN.match(text)
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{flag} {text!r}: expected a duration such as 30s, 2m or 1h")
    return float(match[1]) * _UNIT[match[2]]


def parse_steps(flag: str, text: str, kind: type) -> tuple[tuple[float, float], ...]:
    """``VALUE:DURATION,VALUE:DURATION,...`` -> ((value, seconds), ...)."""
    steps = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        value, sep, span = part.partition(":")
        try:
            number = kind(value)
        except ValueError:
            number = -1
        if not sep or number < 0:
            raise ValueError(f"{flag} {part!r}: expected VALUE:DURATION steps, such as 5:30s,10:30s")
        steps.append((number, parse_seconds(flag, span)))
    return tuple(steps)


@dataclass(frozen=True, slots=True)
class Ramp:
    """A request rate from ``start`` to ``end`` per second over ``seconds`` (as vLLM's
    ``--ramp-up-strategy``): linear, or exponential (a constant growth factor)."""

    strategy: str
    start: float
    end: float
    seconds: float

    def rate(self, t: float) -> float:
        x = min(max(t / self.seconds, 0.0), 1.0)
        if self.strategy == "linear":
            return self.start + (self.end - self.start) * x
        return self.start * (self.end / self.start) ** x


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """How requests arrive: closed loop (the default) or open loop at a rate that may change."""

    request_rate: float = math.inf
    """Requests per second across all workers; ``inf``: closed loop (each user sends again as
    soon as its last answer ends)."""
    burstiness: float = 1.0
    """Gamma shape of the gaps between arrivals: 1 Poisson, ``inf`` evenly spaced."""
    warmup: float = 0.0
    """Seconds at the start whose requests are left out of every figure."""
    ramp: Ramp | None = None
    rate_steps: tuple[tuple[float, float], ...] = ()
    """(requests/s, seconds) in turn; the run ends after the last."""
    user_steps: tuple[tuple[float, float], ...] = ()
    """(users, seconds) in turn; the run ends after the last."""
    sweep: tuple[float, ...] | str = ()
    """Rates to run in turn, or "auto" (from the measured saturation rate down)."""
    sweep_step_time: float = 30.0

    @property
    def open_loop(self) -> bool:
        return bool(self.ramp or self.rate_steps or self.sweep) or not math.isinf(self.request_rate)

    def rate_at(self) -> Callable[[float], float]:
        """The whole run's request rate ``t`` seconds in (per second, all workers together)."""
        if self.ramp is not None:
            return self.ramp.rate
        if self.rate_steps:
            return _stepped(self.rate_steps)
        rate = self.request_rate
        return lambda t: rate

    @property
    def planned_seconds(self) -> float | None:
        """How long the steps (or the sweep's rates) last, when they set the run's length."""
        for steps in (self.rate_steps, self.user_steps):
            if steps:
                return sum(seconds for _, seconds in steps)
        if self.sweep == "auto":
            return (1 + AUTO_STEPS) * self.sweep_step_time
        if self.sweep:
            return len(self.sweep) * self.sweep_step_time
        return None


def _stepped(steps: tuple[tuple[float, float], ...]) -> Callable[[float], float]:
    ends, total = [], 0.0
    for rate, seconds in steps:
        total += seconds
        ends.append((total, rate))

    def rate(t: float) -> float:
        for end, value in ends:
            if t < end:
                return value
        return 0.0

    return rate


def load_settings(get: Callable[[str], Any], run_time: float | None = None) -> LoadSettings:
    """Build :class:`LoadSettings` from the options (``get(dest)`` falls back to the table);
    ``run_time`` is Locust's ``-t`` in seconds (a ramp lasts that long unless told otherwise)."""
    rate = _number("--request-rate", get("request_rate"))
    burstiness = _number("--burstiness", get("burstiness"))
    warmup = _number("--warmup", get("warmup"), zero_ok=True)
    ramp = None
    if get("ramp_up_strategy"):
        strategy = str(get("ramp_up_strategy"))
        if strategy not in RAMPS:
            raise ValueError(f"--ramp-up-strategy {strategy!r}: expected one of {', '.join(RAMPS)}")
        start = _number("--ramp-up-start-rps", get("ramp_up_start_rps"))
        end = _number("--ramp-up-end-rps", get("ramp_up_end_rps"))
        span = str(get("ramp_up_time") or run_time or "")
        if not span:
            raise ValueError("--ramp-up-strategy: give the ramp a length (--ramp-up-time 60s, or -t)")
        seconds = parse_seconds("--ramp-up-time", span)
        ramp = Ramp(strategy, start, end, seconds)
    sweep: tuple[float, ...] | str = ()
    text = str(get("sweep") or "").strip()
    if text == "auto":
        sweep = "auto"
    elif text:
        try:
            sweep = tuple(float(x) for x in text.split(","))
        except ValueError:
            sweep = (-1.0,)
        if any(not (r > 0 and math.isfinite(r)) for r in sweep):
            raise ValueError(f"--sweep {text!r}: expected rates such as 1,2,4,8 (requests/s), or auto")
    return LoadSettings(
        request_rate=rate, burstiness=burstiness, warmup=warmup, ramp=ramp,
        rate_steps=parse_steps("--rate-steps", str(get("rate_steps") or ""), float),
        user_steps=parse_steps("--user-steps", str(get("user_steps") or ""), int),
        sweep=sweep, sweep_step_time=parse_seconds("--sweep-step-time", str(get("sweep_step_time"))),
    )


def _number(flag: str, value: Any, zero_ok: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if math.isnan(number) or number < 0 or (number == 0 and not zero_ok):
        accepted = ">= 0" if zero_ok else "> 0 (inf allowed)"
        raise ValueError(f"{flag} {value!r}: expected a number {accepted}")
    return number
