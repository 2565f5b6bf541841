"""The web UI's start form, in a real browser: its "Custom parameters" are exactly the option
table's ``web_ui`` rows (the knobs a person changes per run), nothing else of ours.

``locust -f locustfile.py --web-host 127.0.0.1`` runs against the emulator; headless chromium
opens the form and a screenshot lands in tests/artifacts/webui-form.png.
"""

from __future__ import annotations

import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from browser import chromium_page, missing

from conf.options import BY_DEST, OPTIONS
from emulator.launch import start_emulator

from locust_run import LOCUST, output, start_locust

pytestmark = pytest.mark.load

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WEB_UI = [option.dest for option in OPTIONS if option.web_ui]


def camel(dest: str) -> str:
    """The form's field name for ``dest``: the page's JSON keys are camelCase (``maxTokens``)."""
    first, *rest = dest.split("_")
    return first + "".join(word.capitalize() for word in rest)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"locust exited with {proc.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


@pytest.fixture(scope="module")
def form(tmp_path_factory) -> dict:
    """Open the start form's custom parameters; what they list, the screenshot, how locust ended."""
    if reason := missing():
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("webui")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with start_emulator() as emulator:
        cmd = [*LOCUST, "--web-host", "127.0.0.1", "--web-port", str(port), "--host", emulator.url]
        proc = start_locust(cmd, tmp)
        try:
            wait_until_serving(url, proc)
            seen = read_form(url)
        finally:
            proc.send_signal(signal.SIGTERM)
            returncode = proc.wait(timeout=60)
    return {**seen, "returncode": returncode, "output": output(tmp)}


def read_form(url: str) -> dict:
    with chromium_page(height=1700) as page:
        page.goto(url)
        custom = page.locator(".MuiAccordion-root").filter(has_text="Custom parameters")
        custom.get_by_text("Custom parameters").click()
        custom.locator("[aria-expanded=true]").wait_for()
        custom.locator(".MuiCollapse-entered").wait_for()  # opened all the way, for the screenshot
        names = custom.locator("[name]").evaluate_all("els => els.map(e => e.name)")
        labels = custom.locator("label").all_inner_texts()
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "webui-form.png"
        page.screenshot(path=str(shot), full_page=True)
    return {"names": names, "labels": labels, "screenshot": shot}


def test_custom_parameters_are_exactly_the_web_ui_rows(form):
    assert sorted(form["names"]) == sorted(camel(dest) for dest in WEB_UI)


def test_no_other_llm_option_is_in_the_form(form):
    hidden = {camel(option.dest) for option in OPTIONS if not option.web_ui}
    assert not hidden & set(form["names"])


def test_each_field_is_labelled_with_its_help(form):
    text = " ".join(form["labels"])
    for dest in WEB_UI:
        assert BY_DEST[dest].help in text, dest


def test_fields_come_in_table_order(form):
    assert form["names"] == [camel(dest) for dest in WEB_UI]


def test_screenshot_was_taken(form):
    assert form["screenshot"].stat().st_size > 10_000


def test_locust_stops_cleanly_on_sigterm(form):
    out, err = form["output"]
    assert form["returncode"] == 0, err[-2000:]
    assert "Traceback" not in out + err
