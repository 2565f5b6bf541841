"""The README's picture of the HTML report's LLM section: a 40 s headless run of three traffic
classes against the emulator (TTFT and ITL that vary and grow with load and image pixels, 1 %
server errors), users ramped up, with SLOs and goodput; the report photographed in chromium.

    flock /tmp/llm-load.lock .venv/bin/python tests/screenshot_report.py docs/report.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from browser import chromium_page  # noqa: E402

from emulator.launch import start_emulator  # noqa: E402

from locust_run import run_locust  # noqa: E402

EMULATOR = ("--ttft-ms", "120", "--ttft-dist", "lognormal", "--ttft-spread-ms", "30", "--itl-ms", "9",
            "--itl-dist", "normal", "--itl-spread-ms", "2", "--itl-ms-per-stream", "0.3",
            "--prefill-ms-per-mpixel", "60", "--fault", "http500=0.01", "--seed", "4",
            "--reasoning-tokens", "4", "--mindie")
CLASSES = ("TextChatUser", "Base64ImageChatUser", "ImageUrlChatUser")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--seconds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_emulator(*EMULATOR) as emulator:
        report = Path(tmp) / "report.html"
        proc, _ = run_locust(emulator.url, Path(tmp), "-u", "24", "-r", "1", "-t", f"{args.seconds}s",
                             "--max-tokens", "128", "--html", str(report), "--slo", "p95_ttft_ms=250",
                             "--slo", "error_rate=0.02", *CLASSES, "--goodput", "ttft:200", "tpot:12")
        if not report.exists():
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        with chromium_page(1280, 1000) as page:
            page.goto(report.as_uri())
            page.locator("#llm-report").screenshot(path=str(args.path))
    print(f"wrote {args.path} (the run exited {proc.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
