"""Run the real ``locust`` command headless against a loopback emulator, for end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_locust(url: str, tmp: Path, *args: str, timeout: float = 240,
               env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, dict | None]:
    """``locust -f locustfile.py --headless --host URL ARGS``; returns the process and the JSON summary."""
    assert url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")), url
    summary = tmp / "summary.json"
    cmd = [
        sys.executable, "-m", "locust", "-f", str(REPO / "locustfile.py"), "--headless", "--host", url,
        "--summary-json", str(summary), "--only-summary", "--stop-timeout", "30", *args,
    ]
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full_env)
    data = json.loads(summary.read_text()) if summary.exists() else None
    return proc, data


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
