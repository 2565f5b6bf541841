"""Headless Debian chromium driven by Playwright (Python), for tests of what the web UI shows.

    from browser import chromium_page

    def test_page_title():
        with chromium_page() as page:
            page.goto("http://127.0.0.1:8089/")

The browser is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it; Playwright never
downloads one here), started with a fresh profile and no background networking: this
machine has no network beyond loopback. A test using it skips, with a one-line reason,
when chromium or playwright is missing.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
"""Headless as root, and none of chromium's own connections (refused here, slowly)."""


def missing() -> str | None:
    """Why no browser test can run here, or None when one can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} missing (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright missing (pip install -r requirements.txt)"
    return None


@contextmanager
def chromium_page(width: int = 1280, height: int = 1000) -> Iterator[Page]:
    """A page in a fresh headless chromium (skips the test when it cannot start one)."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()

