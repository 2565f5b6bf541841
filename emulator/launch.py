"""Start the emulator as a subprocess and wait until it serves: for tests, benchmarks and `make run`.

    with start_emulator("--ttft-ms", "120", "--itl-ms", "7") as emu:
        post(emu.url + "/v1/chat/completions", ...)
"""

from __future__ import annotations

import http.client
import os
import re
import selectors
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import urlsplit

_ANNOUNCE = re.compile(r"^emulator listening on (https?://\S+)$")
_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)


class EmulatorStartError(RuntimeError):
    """The emulator exited, or did not announce itself or answer /health, in time."""


class EmulatorProcess:
    """A running emulator subprocess; as a context manager it is stopped on exit."""

    def __init__(self, process: subprocess.Popen[str], url: str, stderr_file: IO[str]) -> None:
        self.process = process
        self.url = url
        self._stderr = stderr_file
        self._stderr_final = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr_text(self) -> str:
        """Everything the emulator wrote to stderr (up to stop(), once stopped)."""
        if self._stderr.closed:
            return self._stderr_final
        return Path(self._stderr.name).read_text(errors="replace")

    def stop(self, timeout: float = 5.0) -> int:
        """Terminate (SIGTERM, then SIGKILL after `timeout` s); returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        if not self._stderr.closed:
            self._stderr_final = self.stderr_text()
            self._stderr.close()
        return self.process.returncode

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_emulator(*args: str, timeout: float = 15) -> EmulatorProcess:
    """Run `python -m emulator --port 0 *args`, parse its URL and wait for /health to answer 200."""
    python_path = os.pathsep.join(filter(None, [_PROJECT_ROOT, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path}
    stderr_file = tempfile.NamedTemporaryFile("w+", prefix="emulator-", suffix=".err")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=stderr_file, stdin=subprocess.DEVNULL, text=True, env=env,
    )
    deadline = time.monotonic() + timeout
    try:
        url = _read_url(process, deadline)
        _wait_healthy(url, deadline)
    except EmulatorStartError as exc:
        emulator = EmulatorProcess(process, "", stderr_file)
        emulator.stop()
        raise EmulatorStartError(f"{exc}; stderr: {_tail(emulator.stderr_text())}") from None
    return EmulatorProcess(process, url, stderr_file)


def _read_url(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(max(0.0, deadline - time.monotonic())):
            raise EmulatorStartError("the emulator did not announce its URL in time")
    line = process.stdout.readline().strip()
    match = _ANNOUNCE.match(line)
    if match is None:
        code = process.poll()
        raise EmulatorStartError(f"the emulator printed {line!r} (exit code {code}) instead of its URL")
    return match.group(1)


def _wait_healthy(url: str, deadline: float) -> None:
    parts = urlsplit(url)
    unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # our own loopback emulator, with a test CA
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
    while time.monotonic() < deadline:
        connection: http.client.HTTPConnection = (
            http.client.HTTPSConnection(parts.hostname, parts.port, timeout=1, context=unverified)
            if parts.scheme == "https" else http.client.HTTPConnection(parts.hostname, parts.port, timeout=1))
        try:
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    raise EmulatorStartError(f"{url}/health did not answer 200 in time")


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty)"
