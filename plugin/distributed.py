"""Master and workers: exact metrics shipped to the master, a drain at every stop, lost workers.

Workers ship what they counted since their last report with each of Locust's worker
reports (every 3 s). That alone loses the end of a run: a headless master stops listening
half a second after it tells workers to quit, before their last report. So when a run
stops, the master asks every worker to drain (``llm_drain``) and waits, bounded, for
each one's final metrics (``llm_final``); a worker that quits by itself (SIGTERM on its
pod, Ctrl-C in a terminal) drains and sends them before it says goodbye. A worker that
vanishes (SIGKILL, OOM, an evicted pod) is named in the log and the summary, with the
requests it had reported; what it had not reported is lost and said so.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import gevent
from locust.runners import STATE_MISSING

from metrics.collector import LlmMetrics

if TYPE_CHECKING:
    from plugin.lifecycle import Lifecycle

log = logging.getLogger("llm")

REPORT_KEY = "llm_metrics"
DRAIN, FINAL, RESET, STOP_EARLY = "llm_drain", "llm_final", "llm_reset", "llm_stop_early"


class Distributed:
    """The master's and the workers' side of the LLM metrics in a distributed run."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.finals: set[str] = set()
        """Workers whose final metrics for this run arrived (master)."""
        self.reported: dict[str, int] = {}
        """Requests each worker reported this run (master)."""
        self.lost: dict[str, dict] = {}
        """Workers lost this run: id -> when, index, requests reported (master)."""
        self._run_wall = 0.0
        self._watcher: gevent.Greenlet | None = None

    @property
    def runner(self):
        return self.lifecycle.environment.runner

    def register(self) -> None:
        """Register the messages of this process's role (at init)."""
        if self.lifecycle.is_master:
            self.runner.register_message(FINAL, self._on_final)
            self.runner.register_message(STOP_EARLY, self._on_stop_early)
        elif self.lifecycle.is_worker:
            self.runner.register_message(DRAIN, self._on_drain, concurrent=True)
            self.runner.register_message(RESET, self._on_reset)

    # ---- master ---------------------------------------------------------------------------
    def run_started(self) -> None:
        self.finals.clear()
        self.reported.clear()
        self.lost.clear()
        self._run_wall = time.time()
        if self.lifecycle.is_master and (self._watcher is None or self._watcher.dead):
            self._watcher = gevent.spawn(self._watch_workers)

    def worker_report(self, client_id: str, data: dict) -> None:
        if REPORT_KEY in data:
            self._merge(client_id, data[REPORT_KEY])

    def _merge(self, client_id: str, data: dict) -> None:
        metrics = LlmMetrics.from_dict(data)
        self.lifecycle.metrics.merge(metrics)
        self.reported[client_id] = self.reported.get(client_id, 0) + metrics.requests

    def _on_final(self, environment, msg) -> None:
        self._merge(msg.node_id, msg.data)
        self.finals.add(msg.node_id)

    def _on_stop_early(self, environment, msg) -> None:
        self.lifecycle.stop_early(f"{msg.data['reason']} (worker {msg.node_id})")

    def _live_workers(self) -> set[str]:
        return {node.id for node in self.runner.clients.values() if node.state != STATE_MISSING}

    def drain_workers(self, timeout: float) -> None:
        """Ask every connected worker to drain, then wait (bounded) for each one's final metrics."""
        for worker in self._live_workers() - self.finals:
            self.runner.send_message(DRAIN, {"timeout": timeout}, client_id=worker)
        deadline = time.monotonic() + timeout + 10
        while self._live_workers() - self.finals and time.monotonic() < deadline:
            gevent.sleep(0.05)
        self._scan_lost()
        missing = self._live_workers() - self.finals
        if missing:
            log.warning("LLM: %d worker(s) sent no final metrics; the summary may miss their last requests",
                        len(missing))

    def reset_workers(self) -> None:
        """The web UI's Reset: workers drop what they have not reported yet, too."""
        if self.lifecycle.is_master:
            for worker in self._live_workers():
                self.runner.send_message(RESET, None, client_id=worker)

    def _watch_workers(self) -> None:
        """Name each worker that goes missing (no heartbeat), once, while runs go on."""
        while True:
            gevent.sleep(0.5)
            self._scan_lost()

    def _scan_lost(self) -> None:
        for node in list(self.runner.clients.values()):
            if node.state == STATE_MISSING and node.id not in self.lost:
                self._note_lost(node.id)

    def _note_lost(self, worker: str) -> None:
        now = time.time()
        info = {
            "worker": worker,
            "index": self.runner.get_worker_index(worker),
            "lost_at": now,
            "seconds_into_run": round(now - self._run_wall, 1),
            "requests_reported": self.reported.get(worker, 0),
        }
        self.lost[worker] = info
        log.warning(
            "LLM: worker %s (index %s) lost %.1f s into the run (no heartbeat); the %d request(s) it "
            "reported are kept, what it had not reported yet is lost",
            worker, info["index"], info["seconds_into_run"], info["requests_reported"],
        )

    def after_stop(self) -> None:
        """A headless master whose last worker was lost quits instead of waiting for ``-t``."""
        if self.lifecycle.headless and self.runner.worker_count <= 0 and self.lost:
            log.warning("LLM: no worker left; ending the run")
            gevent.spawn(self.runner.quit)

    def summary_fields(self) -> dict:
        self._scan_lost()
        return {"workers_reported": len(self.reported), "lost_workers": list(self.lost.values())}

    def why_nothing(self) -> str:
        if not self.lifecycle.is_master:
            return ""
        if not self.reported:
            return ": no worker sent any (did workers connect and start?)"
        return ""

    # ---- worker ---------------------------------------------------------------------------
    def report_to_master(self, client_id: str, data: dict) -> None:
        pending = self.lifecycle.pending
        if pending.requests:
            data[REPORT_KEY] = pending.to_dict()
            self.lifecycle.pending = self.lifecycle.new_metrics()

    def _send_final(self) -> None:
        final, self.lifecycle.pending = self.lifecycle.pending, self.lifecycle.new_metrics()
        self.runner.send_message(FINAL, final.to_dict())

    def _on_drain(self, environment, msg) -> None:
        """Drain, then send the master everything not yet reported."""
        self.lifecycle.inflight.drain(msg.data["timeout"])
        self._send_final()

    def ask_master_to_stop(self, reason: str) -> None:
        self.runner.send_message(STOP_EARLY, {"reason": reason})

    def _on_reset(self, environment, msg) -> None:
        self.lifecycle.pending = self.lifecycle.new_metrics()

    def worker_quitting(self) -> None:
        """This worker quits on its own (SIGTERM, Ctrl-C): drain, and send what is left."""
        lifecycle = self.lifecycle
        if lifecycle.runtime is None:
            return
        lifecycle.inflight.drain(lifecycle.runtime.settings.drain_timeout)
        self._send_final()
