"""Where the LLM suite meets Locust's events: each listener hands over to its room.

Importing this module (the locustfile does) registers the options, and at ``init``
builds the process's :class:`~plugin.lifecycle.Lifecycle`, which owns start, drain and
stop on every path a run can end by; :mod:`plugin.distributed` carries metrics between
workers and the master; :mod:`plugin.webui` checks the web UI's start form.
"""

from __future__ import annotations

import sys

import gevent
from locust import events
from locust.env import Environment

from conf.settings import SettingsError
from plugin import options, webui
from plugin.lifecycle import Lifecycle
from plugin.outcome import EXIT_BAD_INPUT
from plugin.reporter import LocustReporter
from plugin.runtime import Runtime


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    options.add_options(parser)


def fail(message: str) -> None:
    """A user mistake: one line on stderr, exit code 2, no traceback."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_BAD_INPUT)


def lifecycle_of(environment: Environment) -> Lifecycle:
    lifecycle = getattr(environment, "llm", None)
    if lifecycle is None:
        raise RuntimeError("the LLM plugin was not initialised (import plugin.hooks in the locustfile)")
    return lifecycle


def get_runtime(environment: Environment) -> Runtime:
    """The process's runtime (users call this in ``on_start``)."""
    return lifecycle_of(environment).require_runtime()


def reporter_for(environment: Environment, path: str, traffic_class: str) -> LocustReporter:
    return lifecycle_of(environment).reporter_for(path, traffic_class)


@events.init.add_listener
def _on_init(environment: Environment, web_ui=None, **_kw) -> None:
    if environment.parsed_options is None:
        return
    lifecycle = environment.llm = Lifecycle(environment)
    try:
        lifecycle.init()
    except SettingsError as exc:
        fail(str(exc))
    lifecycle.distributed.register()
    events_ = environment.events
    events_.test_start.add_listener(lambda **_: lifecycle.test_start())
    events_.test_stopping.add_listener(lambda **_: lifecycle.test_stopping())
    events_.test_stop.add_listener(lambda **_: lifecycle.test_stop())
    events_.reset_stats.add_listener(lifecycle.reset)
    events_.report_to_master.add_listener(lifecycle.distributed.report_to_master)
    events_.worker_report.add_listener(lifecycle.distributed.worker_report)
    # Added here, after the runner's own: quitting runs listeners last-added first, so a
    # worker drains and sends its final metrics before the runner tells the master it quits.
    events_.quitting.add_listener(lambda **_: lifecycle.quitting())
    if web_ui is not None:
        webui.install(web_ui, lifecycle, options.DESTS)
    # Start-up work blocked the event loop; timers set next (Locust's --run-time among them)
    # would count from the loop's stale clock and fire that much early.
    gevent.get_hub().loop.update_now()
