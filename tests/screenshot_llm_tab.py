"""The README's picture of the LLM tab: a 40 s web UI run of three traffic classes against the
emulator (TTFT and ITL that vary, and grow with load), photographed mid-run.

    flock /tmp/llm-load.lock .venv/bin/python tests/screenshot_llm_tab.py docs/llm-tab.png [--dark]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from browser import chromium_page  # noqa: E402
from test_webui_llm_tab import SETTLE_CHARTS, answers, free_port, start_run, wait_until  # noqa: E402

from emulator.launch import start_emulator  # noqa: E402

from locust_run import LOCUST, start_locust  # noqa: E402

EMULATOR = ("--ttft-ms", "120", "--ttft-dist", "lognormal", "--ttft-spread-ms", "30", "--itl-ms", "9",
            "--itl-dist", "normal", "--itl-spread-ms", "2", "--itl-ms-per-stream", "0.3",
            "--prefill-ms-per-mpixel", "60", "--reasoning-tokens", "4", "--mindie")
CLASSES = ("TextChatUser", "Base64ImageChatUser", "ImageUrlChatUser")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--seconds", type=float, default=40)
    args = parser.parse_args()
    web_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    with tempfile.TemporaryDirectory() as tmp, start_emulator(*EMULATOR) as emulator:
        proc = start_locust([*LOCUST, "--web-host", "127.0.0.1", "--web-port", str(web_port),
                             "--host", emulator.url, *CLASSES], Path(tmp))
        try:
            wait_until(lambda: answers(f"{base}/"), "web UI", procs=[proc])
            # a viewport as tall as the page: a full-page screenshot resizes it, and Locust's tab
            # bar can catch that resize and show its scroll buttons in the picture
            with chromium_page(width=1440, height=2050) as page:
                page.emulate_media(color_scheme="dark" if args.dark else "light")
                page.goto(f"{base}/")
                start_run(page, users=12, max_tokens=96)
                page.get_by_role("tab", name="LLM").click()
                page.wait_for_timeout(args.seconds * 1000)
                # right after a poll, once the charts' update animation is over
                charts = "document.querySelector('[data-testid=llm-charts]').dataset.seconds"
                page.wait_for_function(f"seen => {charts} !== seen", arg=page.evaluate(charts))
                page.wait_for_timeout(SETTLE_CHARTS * 1000)
                page.screenshot(path=str(args.path))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
