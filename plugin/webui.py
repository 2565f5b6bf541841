"""The web UI's start form: LLM settings checked before a run starts, errors shown in the form.

Locust's ``/swarm`` handler copies the form into the options and starts the run; a bad
value would only be logged (or fail inside the handler) while the run went on with the
old settings. So a hook runs first on ``POST /swarm``: it reads the LLM fields as the
handler will, checks them as the command line is checked, and checks the target answers.
On a mistake it answers as Locust's own handler does on one (``success: false`` and a
message), which the start form shows; no run starts.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from flask import jsonify, request

from conf.settings import SettingsError

if TYPE_CHECKING:
    from plugin.lifecycle import Lifecycle


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
    """Check the start form's LLM settings and the target before Locust's ``/swarm`` runs."""
    keep_form_order(web_ui.app)

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
