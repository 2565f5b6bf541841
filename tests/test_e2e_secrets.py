"""The API key never leaks: not in the console, logs, reports, request log, CSV, HTML or web UI."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from emulator.launch import start_emulator

from locust_run import REPO, run_locust

pytestmark = pytest.mark.load

KEY = "sk-test-7f3a9c-DO-NOT-LEAK-41b2"


@pytest.fixture
def keyed_emulator(monkeypatch):
    monkeypatch.setenv("EMULATOR_KEY", KEY)
    with start_emulator("--ttft-ms", "5", "--itl-ms", "1", "--api-key-env", "EMULATOR_KEY") as emulator:
        yield emulator


def files_text(folder) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_headless_run_with_a_key_leaves_it_nowhere(keyed_emulator, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc, summary = run_locust(
        keyed_emulator.url, out, "-u", "3", "-r", "3", "-t", "3s", "--max-tokens", "8",
        "--request-log", str(out / "requests.jsonl"), "--csv", str(out / "stats"),
        "--html", str(out / "report.html"), "--loglevel", "DEBUG", "--logfile", str(out / "locust.log"),
        env={"OPENAI_API_KEY": KEY},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert summary["completed"] > 0 and summary["failed"] == 0  # the key was sent and accepted
    written = files_text(out)
    assert "requests.jsonl" in " ".join(p.name for p in out.iterdir())
    assert len(written) > 1000 and "TTFT" in written
    assert KEY not in written and KEY not in proc.stdout + proc.stderr


def test_a_key_file_works_and_a_wrong_key_fails_without_showing_it(keyed_emulator, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    proc, summary = run_locust(keyed_emulator.url, tmp_path, "-u", "1", "-t", "2s", "--max-tokens", "4",
                               "--api-key-file", str(key_file), env={"OPENAI_API_KEY": ""})
    assert proc.returncode == 0 and summary["completed"] > 0
    wrong = KEY[::-1]
    proc, _ = run_locust(keyed_emulator.url, tmp_path, "-u", "1", "-t", "2s", env={"OPENAI_API_KEY": wrong})
    assert proc.returncode == 2
    assert "answered HTTP 401 (API key missing or refused)" in proc.stderr
    assert wrong not in proc.stdout + proc.stderr


def test_web_ui_pages_do_not_show_the_key(keyed_emulator, tmp_path):
    port = 18000 + os.getpid() % 1000
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfile.py"), "--host", keyed_emulator.url,
           "--web-host", "127.0.0.1", "--web-port", str(port), "--autostart", "-u", "2", "-t", "6s",
           "--autoquit", "1", "--max-tokens", "4"]
    env = {**os.environ, "OPENAI_API_KEY": KEY, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    pages = []
    try:
        deadline = time.time() + 30
        for path in ("/", "/stats/requests", "/stats/report", "/stats/requests/csv", "/exceptions"):
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                        page = response.read().decode(errors="replace")
                    if path != "/stats/requests" or "TTFT" in page:  # once the run has its first tokens
                        pages.append(page)
                        break
                except OSError:
                    pass
                assert time.time() < deadline, "the web UI did not answer"
                time.sleep(0.5)
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert len(pages) == 5 and "TTFT" in pages[1]
    assert KEY not in "".join(pages) and KEY not in output
