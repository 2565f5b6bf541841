"""The web UI: the start form's LLM settings checked before a run starts, and the LLM tab.

**The start form.** Locust's ``/swarm`` handler copies the form into the options and starts
the run; a bad value would only be logged (or fail inside the handler) while the run went
on with the old settings. So a hook runs first on ``POST /swarm``: it reads the LLM fields
as the handler will, checks them as the command line is checked, and checks the target
answers. On a mistake it answers as Locust's own handler does on one (``success: false``
and a message), which the start form shows; no run starts.

**The LLM tab.** Locust's extended tabs render a table and nothing else, so the page is
Locust's own UI rebuilt from its npm package ``locust-ui`` with one more tab (``webui/``,
built into ``webui/dist``, which is served as Locust's ``--build-path`` unless one is
given). The tab polls ``llm/live`` and draws what it returns: the summary of the run on
screen (``summarize`` of the live metrics, a master's merged from its workers, or the
finished run's summary once it stopped) and its per-second series. The Download Data tab
links that summary as JSON and the run's per-request records as CSV (the rows of
``--csv``'s ``PREFIX_llm_requests.csv``, which the lifecycle keeps for this page).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from flask import Blueprint, Response, jsonify, request
from locust.runners import WORKER_REPORT_INTERVAL

from conf.settings import SettingsError
from metrics.report import summarize
from reports.csv import REQUEST_COLUMNS

if TYPE_CHECKING:
    from plugin.lifecycle import Lifecycle

log = logging.getLogger("llm")

BUILD_PATH = Path(__file__).resolve().parents[1] / "webui" / "dist"
"""Locust's UI with the LLM tab, built by ``npm run build`` in ``webui/`` (committed)."""
DOWNLOADS = [
    {"href": "./llm/summary.json", "title": "Download LLM summary JSON"},
    {"href": "./llm/requests.csv", "title": "Download LLM per-request records CSV"},
]
CACHE_SECONDS = 1.0
"""A summary computed for one poll serves the others for this long (several open pages)."""


def form_options(options: argparse.Namespace, form, dests: set[str]) -> argparse.Namespace:
    """A copy of ``options`` with the form's values for the LLM options ``dests``, typed as
    Locust's handler types them (after the type of the current value)."""
    values = dict(vars(options))
    for key in dests & set(form.keys()):
        current, raw = values.get(key), form.get(key)
        flag = "--" + key.replace("_", "-")
        if isinstance(current, bool):
            values[key] = raw == "true"
        elif current is None or isinstance(current, str):
            values[key] = raw
        else:
            try:
                values[key] = type(current)(raw)
            except ValueError:
                expected = "a whole number" if isinstance(current, int) else "a number"
                raise SettingsError(f"{flag} {raw!r}: expected {expected}") from None
    return argparse.Namespace(**values)


def keep_form_order(app) -> None:
    """Let the start form list its fields in the options table's order.

    The form shows "Custom parameters" in the order of the page's JSON, which Locust's
    ``index.html`` writes with Jinja's ``tojson``; Jinja's default policy sorts keys, so the
    fields came alphabetically. This keeps the order Locust gives (its parser's, our table's).
    """
    app.jinja_env.policies["json.dumps_kwargs"] = {"sort_keys": False}


def install(web_ui, lifecycle: Lifecycle, dests: set[str]) -> None:
    """Check the start form's LLM settings and the target before Locust's ``/swarm`` runs;
    serve the UI with the LLM tab, its data and its downloads."""
    keep_form_order(web_ui.app)
    serve_llm_ui(web_ui)
    view = LlmView(lifecycle)
    lifecycle.environment.events.reset_stats.add_listener(view.reset)
    web_ui.app.register_blueprint(llm_routes(web_ui, view))

    @web_ui.app.before_request
    def check_swarm_form():
        if request.method != "POST" or not request.path.endswith("/swarm"):
            return None
        environment = lifecycle.environment
        host = (request.form.get("host") or environment.host or "").replace("<", "").replace(">", "")
        try:
            options = form_options(environment.parsed_options, request.form, dests)
            settings = lifecycle.check(options, host=host)
            lifecycle.resolve_model(settings, options)
        except SettingsError as exc:
            return jsonify({"success": False, "message": str(exc), "host": environment.host})
        return None


def serve_llm_ui(web_ui) -> None:
    """Serve the UI with the LLM tab, unless ``--build-path`` names another one; link the
    LLM downloads in the Download Data tab.

    Locust gives ``--build-path`` to the web UI as its Flask app's template folder, which
    Locust's index route renders ``index.html`` from and its asset route serves from (falling
    back to Locust's own assets: the favicons come from there). Set here, at ``init``, before
    the web server starts and any page is rendered. Locust's HTML report and login page keep
    Locust's own build.
    """
    given = getattr(web_ui.environment.parsed_options, "build_path", "")
    if not given and (BUILD_PATH / "index.html").is_file():
        web_ui.app.template_folder = str(BUILD_PATH)
    elif not given:
        log.warning("LLM: %s is missing: the web UI has no LLM tab (its downloads still work)", BUILD_PATH)
    links = web_ui.template_args.get("extended_csv_files") or []
    web_ui.template_args["extended_csv_files"] = [*links, *DOWNLOADS]


class LlmView:
    """What the LLM tab shows: the run on screen, its summary and its per-second rows."""

    def __init__(self, lifecycle: Lifecycle, clock=time.monotonic, wall=time.time) -> None:
        self.lifecycle = lifecycle
        self._clock = clock
        self._wall = wall
        self._cached: tuple[object, float, dict] | None = None
        self.resets = 0
        """The web UI's Resets: each starts the tab's figures again within a run."""

    def reset(self) -> None:
        self.resets += 1

    def summary(self) -> dict:
        """The finished run's summary once it stopped, else the live one (the master's merged
        from its workers): the numbers ``--summary-json`` writes (or will write)."""
        lifecycle = self.lifecycle
        if lifecycle.summary is not None:
            return lifecycle.summary
        key, now = (lifecycle.runs, self.resets), self._clock()
        cached = self._cached
        if cached is not None and cached[0] == key and now - cached[1] < CACHE_SECONDS:
            return cached[2]
        summary = summarize(lifecycle.metrics)
        self._cached = (key, now, summary)
        return summary

    def live(self, since: float | None = None) -> dict:
        """The tab's poll: the summary without its series, and the series' rows after ``since``
        (a wall-clock second; the page asks again for the last seconds, which a worker's
        late report can still change)."""
        summary = self.summary()
        series = summary.get("time_series") or {"step_s": 1, "all": [], "per_class": {}}

        def after(rows: list[dict]) -> list[dict]:
            return rows if since is None else [row for row in rows if row["t"] > since]

        lifecycle = self.lifecycle
        runner = lifecycle.environment.runner
        # the seconds a report can still add to: this one, and on a master a worker's report interval
        lag = WORKER_REPORT_INTERVAL + 1 if lifecycle.is_master else 0
        return {
            "server": server_view(lifecycle, summary),
            "run": lifecycle.runs,
            "view": f"{lifecycle.runs}.{self.resets}",
            "state": runner.state if runner is not None else None,
            "final": lifecycle.summary is not None,
            "complete_until": int(self._wall() - lag),
            "classes": traffic_classes(lifecycle.environment.user_classes),
            "summary": {key: value for key, value in summary.items() if key != "time_series"},
            "series": {
                "step_s": series["step_s"],
                "since": since,
                "all": after(series["all"]),
                "per_class": {name: after(rows) for name, rows in series["per_class"].items()},
            },
        }


    def request_rows(self) -> list[list]:
        """The run's last per-request rows (:data:`reports.csv.REQUEST_COLUMNS`), as the lifecycle
        keeps them for this page (at most ``plugin.lifecycle.RECENT_ROWS``)."""
        return list(self.lifecycle.recent_rows)


SERVER_SERIES = ("running", "waiting", "kv_cache_usage")
"""The server's gauges the tab charts (by their common names), beside the client's in flight."""


def server_view(lifecycle, summary: dict) -> dict | None:
    """The server's gauges over time (``--server-metrics``): the scraper's figures so far while the
    run goes on, the summary's once it has stopped; None without server metrics."""
    scraper = getattr(lifecycle, "server_metrics", None)
    block = scraper.snapshot() if scraper is not None else summary.get("server_metrics")
    if not block:
        return None
    if not block.get("available"):
        return {"available": False, "reason": block.get("reason")}
    common = block.get("common") or {}
    series = {name: block[common[name]]["series"] for name in SERVER_SERIES
              if common.get(name) in block and block[common[name]].get("series")}
    return {"available": True, "metrics": {name: common[name] for name in series}, "series": series}


def traffic_classes(user_classes: list) -> dict[str, dict]:
    """Each traffic class of the run's users: the user classes sending it, whether it sends images."""
    out: dict[str, dict] = {}
    for cls in user_classes:
        entry = out.setdefault(getattr(cls, "traffic_class", "text"), {"users": [], "images": False})
        entry["users"].append(cls.__name__)
        entry["images"] = entry["images"] or bool(getattr(cls, "sends_images", False))
    return out


def llm_routes(web_ui, view: LlmView) -> Blueprint:
    """``llm/live`` (the tab's poll), ``llm/summary.json`` and ``llm/requests.csv`` (downloads),
    under ``--web-base-path`` as Locust's own routes, behind ``--web-login`` when it is on."""
    base = getattr(web_ui.environment.parsed_options, "web_base_path", "") or None
    routes = Blueprint("llm", __name__, url_prefix=base)
    login = web_ui.auth_required_if_enabled

    @routes.route("/llm/live")
    @login
    def live() -> Response:
        since = request.args.get("since", type=float)
        return Response(orjson.dumps(view.live(since), option=orjson.OPT_NON_STR_KEYS),
                        mimetype="application/json")

    @routes.route("/llm/summary.json")
    @login
    def summary_json() -> Response:
        body = orjson.dumps(view.summary(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        return download(body, "llm_summary", "json", "application/json")

    @routes.route("/llm/requests.csv")
    @login
    def requests_csv() -> Response:
        return download(csv_lines(REQUEST_COLUMNS, view.request_rows()), "llm_requests", "csv", "text/csv")

    return routes


def csv_lines(columns: Iterable[str], rows: Iterable[list], chunk: int = 1000) -> Iterator[str]:
    """The CSV text of ``rows`` under ``columns`` (None as empty), ``chunk`` rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for i, row in enumerate(rows, 1):
        writer.writerow(["" if value is None else value for value in row])
        if i % chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def download(body: bytes | Iterable[str], name: str, extension: str, mimetype: str) -> Response:
    """An attachment named as Locust names its CSV downloads (``name_<unix time>.ext``)."""
    filename = f"{name}_{int(time.time())}.{extension}"
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f"attachment;filename={filename}"})
