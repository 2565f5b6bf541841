"""The load of a run: open-loop arrivals, rate ramps and steps, user steps, sweeps, warm-up.

The master (or a local process) decides what all processes share and puts it in the run's
options, which Locust sends to every worker with the spawn: each worker's share of the
rate (the rate is split evenly, so the merged arrivals of independent Poisson processes are
still Poisson at the whole rate), the wall-clock moment figures start (after ``--warmup``)
and the sweep's start. Every process then runs its own :class:`~load.arrivals.Arrivals`.
User steps change the users through the runner, as Locust's ``LoadTestShape`` would (a
shape class in the locustfile would be picked for every run, asked for or not).
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import gevent

from conf.load import SATURATION_SHARES, LoadSettings
from conf.settings import Settings
from load.arrivals import Arrivals
from metrics.collector import ClassMetrics
from metrics.report import summarize_class
from reports.slo import evaluate
from streaming.record import RequestRecord

if TYPE_CHECKING:
    from plugin.lifecycle import Lifecycle

log = logging.getLogger("llm")
SHARE, MEASURE_FROM, T0 = "llm_rate_share", "llm_measure_from", "llm_t0"
"""Keys the master adds to the run's options for its workers."""
KEEP_UP = 0.95
"""A run that sent less than this share of its target rate says it could not keep up."""


class LoadControl:
    """One process's side of the run's load."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.arrivals: Arrivals | None = None
        self.measure_from = 0.0
        self.t0 = 0.0
        self.warmup_skipped = 0
        self.stopping_at = 0.0
        """Wall clock when the stop began: the end of the window arrivals were offered in."""
        self._stepper: gevent.Greenlet | None = None
        self.sweep: Sweep | None = None

    @property
    def options(self):
        return self.lifecycle.environment.parsed_options

    def share_options(self, settings: Settings) -> None:
        """Master or local, before the options go out: what every process of the run shares."""
        runner = self.lifecycle.environment.runner
        workers = runner.worker_count if self.lifecycle.is_master else 1
        now = time.time()
        setattr(self.options, SHARE, 1.0 / max(workers, 1))
        setattr(self.options, T0, now)
        setattr(self.options, MEASURE_FROM, now + settings.load.warmup)

    def run_started(self, settings: Settings) -> None:
        """Every process: arrivals start (open loop), the warm-up and the steps are scheduled."""
        load = settings.load
        self.t0 = float(getattr(self.options, T0, 0.0) or time.time())
        self.measure_from = float(getattr(self.options, MEASURE_FROM, 0.0) or self.t0)
        self.warmup_skipped = 0
        self.stop()
        self.sweep = Sweep(load) if load.sweep else None
        if not self.lifecycle.is_master and load.open_loop:
            share = float(getattr(self.options, SHARE, 1.0) or 1.0)
            whole = self.sweep.rate if self.sweep is not None else load.rate_at()
            seed = settings.seed + 7 * (self.lifecycle.worker_index or 0)
            gate = self.lifecycle.inflight.gate
            self.arrivals = Arrivals(lambda t: whole(t) * share, load.burstiness, seed, gate)
            self.arrivals.start()
        if load.warmup:  # Locust's own rows leave the warm-up out too
            stats = self.lifecycle.environment.stats
            gevent.spawn_later(max(self.measure_from - time.time(), 0), stats.reset_all)
        if not self.lifecycle.is_worker:
            self._stepper = gevent.spawn(self._steps, settings)

    def step_of(self, record: RequestRecord) -> int | None:
        """The sweep step ``record`` was sent in (None outside a sweep)."""
        if self.sweep is None:
            return None
        step = self.sweep.step_at(record.wall_start - self.t0)
        if step == 0 and record.ok:
            self.sweep.saturation_done += 1
        return step

    def counts(self, record: RequestRecord) -> bool:
        """False for a request sent during the warm-up: it is left out of every figure."""
        if record.wall_start < self.measure_from:
            self.warmup_skipped += 1
            return False
        return True

    def _steps(self, settings: Settings) -> None:
        """Master or local: user steps, and the end of a run whose steps set its length."""
        load, runner = settings.load, self.lifecycle.environment.runner
        for users, seconds in load.user_steps:
            runner.start(int(users), max(int(users), 1))
            gevent.sleep(seconds)
        if load.user_steps:
            self._end_run("the last --user-steps step ended")
            return
        planned = load.planned_seconds
        if planned:
            gevent.sleep(max(self.t0 + planned - time.time(), 0))
            self._end_run("the last step ended")

    def _end_run(self, reason: str) -> None:
        log.info("LLM: %s; stopping the run", reason)
        runner = self.lifecycle.environment.runner
        gevent.spawn(runner.quit if self.lifecycle.headless else runner.stop)

    def stopping(self) -> None:
        self.stopping_at = time.time()

    def stop(self) -> None:
        if self.arrivals is not None:
            self.arrivals.stop()
            self.arrivals = None
        if self._stepper is not None and self._stepper is not gevent.getcurrent():
            self._stepper.kill(block=False)
            self._stepper = None

    def summary_fields(self, summary: dict, settings: Settings) -> dict:
        """Target and achieved rates, the warm-up, and a line when the client could not keep up."""
        load = settings.load
        out: dict = {"warmup_s": load.warmup}
        if not load.open_loop:
            return out
        if self.sweep is not None:
            out["sweep"] = self.sweep.summary(self.lifecycle.metrics.steps, settings)
            return out
        sent = summary["completed"] + summary["failed"]
        # from the first request sent (a worker starts sending once its runtime is built) to the stop
        first = self.lifecycle.metrics.overall().wall_first or self.measure_from
        window = (self.stopping_at or time.time()) - max(first, self.measure_from)
        achieved = sent / window if window > 0 else 0.0
        target = None if load.ramp or load.rate_steps or load.sweep else load.request_rate
        out.update({"request_rate_target": target, "request_rate_achieved": achieved,
                    "burstiness": load.burstiness})
        if target is not None and achieved < KEEP_UP * target:
            queue = summary.get("p99_queue_ms")
            line = (f"the client could not keep up: {achieved:.2f} of {target:g} requests/s sent "
                    f"(queue time p99 {queue:.0f} ms); raise -u, the users cap requests in flight")
            out["kept_up"] = False
            log.warning("LLM: %s", line)
        elif target is not None:
            out["kept_up"] = True
        return out



class Sweep:
    """Rates run in turn, ``--sweep-step-time`` each; "auto" starts with a closed-loop step.

    In an auto sweep every process measures its own saturation rate in the first step (the
    requests it completed), and runs its shares of it after: no message has to reach the
    workers in time, and their rates still add up to the shares of the whole.
    """

    def __init__(self, load: LoadSettings) -> None:
        self.step_time = load.sweep_step_time
        self.auto = load.sweep == "auto"
        self.rates: list[float | None] = (
            [math.inf, *([None] * len(SATURATION_SHARES))] if self.auto else list(load.sweep)  # type: ignore[arg-type]
        )
        self.saturation_done = 0
        """Requests this process completed in the closed-loop step (auto)."""

    def step_at(self, t: float) -> int | None:
        step = int(t // self.step_time)
        return step if 0 <= step < len(self.rates) else None

    def rate(self, t: float) -> float:
        """This process's (whole, before any worker share) rate ``t`` seconds into the run."""
        step = self.step_at(t)
        if step is None:
            return 0.0
        rate = self.rates[step]
        if rate is None:  # auto: the closed-loop step is over, its rate is known
            saturation = self.saturation_done / self.step_time
            self.rates[1:] = [saturation * share for share in SATURATION_SHARES]
            rate = self.rates[step]
        return rate  # type: ignore[return-value]

    def summary(self, steps: dict[int, ClassMetrics], settings: Settings) -> dict:
        """Per-step figures, and the highest rate whose step met every ``--slo``."""
        saturation = None
        if self.auto and 0 in steps:
            saturation = steps[0].completed / self.step_time
        out_steps, best = [], None
        for index in range(len(self.rates)):
            m = steps.get(index, ClassMetrics())
            figures = summarize_class(m, duration=self.step_time)
            asked = self.rates[index]
            if self.auto:
                asked = None if index == 0 else (saturation or 0.0) * SATURATION_SHARES[index - 1]
            figures["request_rate"] = asked
            figures["request_rate_achieved"] = (m.completed + m.failed) / self.step_time
            figures["goodput_share"] = m.good / m.completed if m.completed and settings.goodput else None
            results = evaluate(settings.slos, figures) if settings.slos else []
            figures["slos_met"] = all(r.met for r in results) if results else None
            if asked is not None and results and figures["slos_met"] and (best is None or asked > best):
                best = asked
            out_steps.append(figures)
        return {"step_s": self.step_time, "auto": self.auto, "saturation_rate": saturation,
                "steps": out_steps, "max_rate_meeting_slos": best}
