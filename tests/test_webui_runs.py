"""Web UI runs, in a real browser: each run counts only its own requests, a bad value or an
unreachable target is shown in the start form and starts nothing, and the UI opens without a
reachable target (it is checked when a run starts)."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest
from browser import chromium_page

from emulator.launch import start_emulator

from locust_run import LOCUST, output, read_jsonl, start_locust, wait_for_lines

pytestmark = pytest.mark.load

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_form(page, users: int, max_tokens: str, host: str | None = None) -> None:
    """Fill the start form (Locust's fields, then our custom parameter) and press Start."""
    page.locator("input[name=userCount]").fill(str(users))
    page.locator("input[name=spawnRate]").fill(str(users))
    if host is not None:
        page.locator("input[name=host]").fill(host)
    field = page.locator("input[name=maxTokens]")
    if not field.is_visible():
        page.get_by_text("Custom parameters").click()
    field.fill(max_tokens)
    page.get_by_role("button", name="Start").click()


def wait_for_summary(path: Path, after: float, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_mtime > after:
            time.sleep(0.2)
            return json.loads(path.read_text())
        time.sleep(0.1)
    raise AssertionError(f"no summary written to {path} in {timeout} s")


def served_with(log: Path, tokens: int) -> int:
    return sum(1 for r in read_jsonl(log) if r["completion_tokens"] == tokens)


def test_two_web_ui_runs_count_only_their_own_requests(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    log, summary = tmp_path / "emulator.jsonl", tmp_path / "summary.json"
    port = free_port()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with start_emulator("--ttft-ms", "20", "--itl-ms", "5", "--log", str(log)) as emulator:
        # the UI opens although its --host does not answer: the target is checked at Start
        cmd = [*LOCUST, "--web-host", "127.0.0.1", "--web-port", str(port), "--host", unreachable,
               "--summary-json", str(summary), "TextChatUser"]
        proc = start_locust(cmd, tmp_path)
        try:
            with chromium_page() as page:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except Exception:  # noqa: BLE001 - not serving yet
                        assert time.monotonic() < deadline and proc.poll() is None, output(tmp_path)[1]
                        time.sleep(0.3)

                start_form(page, 4, "10")
                page.get_by_text("unreachable").wait_for(timeout=15000)
                page.screenshot(path=str(ARTIFACTS / "webui-unreachable.png"))
                assert not read_jsonl(log)

                start_form(page, 4, "abc", host=emulator.url)
                page.get_by_text("--max-tokens 'abc': expected a whole number").wait_for(timeout=15000)
                assert not read_jsonl(log)  # no run started on the old settings

                t0 = time.time()
                start_form(page, 4, "10")
                wait_for_lines(log, 20)
                page.get_by_role("button", name="Stop").click()
                first = wait_for_summary(summary, t0)
                page.screenshot(path=str(ARTIFACTS / "webui-run1.png"))

                t1 = time.time()
                page.get_by_role("button", name="New").click()
                start_form(page, 2, "20")
                deadline = time.monotonic() + 60
                while served_with(log, 20) < 20 and time.monotonic() < deadline:
                    time.sleep(0.1)
                page.get_by_role("button", name="Stop").click()
                second = wait_for_summary(summary, t1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert first["completed"] == served_with(log, 10) >= 20 and first["failed"] == 0
    assert first["total_output_tokens"] == 10 * first["completed"]
    assert second["completed"] == served_with(log, 20) >= 20 and second["failed"] == 0
    assert second["total_output_tokens"] == 20 * second["completed"]
    assert "Traceback" not in output(tmp_path)[1]
