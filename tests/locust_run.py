"""Run the real ``locust`` command headless against a loopback emulator, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


LOCUST = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfile.py")]


def _headless(url: str, tmp: Path, args: tuple[str, ...]) -> list[str]:
    assert url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")), url
    return [*LOCUST, "--headless", "--host", url, "--summary-json", str(tmp / "summary.json"),
            "--only-summary", "--stop-timeout", "30", *args]


def _env(env: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}


def read_summary(tmp: Path) -> dict | None:
    summary = tmp / "summary.json"
    return json.loads(summary.read_text()) if summary.exists() else None


def run_locust(url: str, tmp: Path, *args: str, timeout: float = 240,
               env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, dict | None]:
    """``locust -f locustfile.py --headless --host URL ARGS``; returns the process and the JSON summary."""
    proc = subprocess.run(_headless(url, tmp, args), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=_env(env))
    return proc, read_summary(tmp)


def _default_sigint() -> None:
    """In the child: SIGINT as a terminal's Ctrl-C delivers it (a background job of a
    non-interactive shell would otherwise pass on its ignored SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_locust(cmd: list[str], tmp: Path, name: str = "locust",
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``cmd`` in its own process group (so a test can signal the group, as a terminal
    does), its output in ``tmp/<name>.out`` and ``.err``."""
    out, err = (tmp / f"{name}.out").open("w"), (tmp / f"{name}.err").open("w")
    return subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=_env(env),
                            start_new_session=True, preexec_fn=_default_sigint)


def start_headless(url: str, tmp: Path, *args: str) -> subprocess.Popen:
    """A headless run like :func:`run_locust`, left running for the test to stop."""
    return start_locust(_headless(url, tmp, args), tmp)


def output(tmp: Path, name: str = "locust") -> tuple[str, str]:
    return (tmp / f"{name}.out").read_text(), (tmp / f"{name}.err").read_text()


def wait_for_lines(path: Path, count: int, timeout: float = 60) -> None:
    """Wait until the JSONL file ``path`` has at least ``count`` lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach {count} lines in {timeout} s")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
