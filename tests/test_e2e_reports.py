"""SLO gates, goodput and the report files of real headless runs against the emulator.

The emulator's timing is known (a constant TTFT, or one drawn uniformly), so an SLO just below
or above it must breach or hold, and the goodput share must be what the distribution gives;
the CSV files must hold every request the emulator's log served, drained ones included.
"""

import csv
import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_e2e_stop import stop_mid_stream

from emulator.launch import start_emulator

from locust_run import LOCUST, REPO, read_jsonl, run_locust

pytestmark = pytest.mark.load

FAST = ("--ttft-ms", "100", "--itl-ms", "5")


def slo_run(tmp_path: Path, *args: str):
    with start_emulator(*FAST) as emulator:
        return run_locust(emulator.url, tmp_path, "-u", "4", "-r", "4", "-t", "3s", "--max-tokens", "20",
                          "TextChatUser", *args)


def test_an_slo_just_below_the_servers_ttft_exits_4_naming_it_and_its_value(tmp_path):
    proc, summary = slo_run(tmp_path, "--slo", "p95_ttft_ms=95", "--slo", "error_rate=0.01")
    assert proc.returncode == 4, proc.stderr[-3000:]
    line = re.search(r"BREACHED\s+p95_ttft_ms <= 95 ms: measured (\d+\.\d+) ms", proc.stdout)
    assert line, proc.stdout[-2000:]
    assert 100 <= float(line.group(1)) < 110
    assert re.search(r"met\s+error_rate <= 0.01: measured 0.0000", proc.stdout)
    assert proc.stdout.index("LLM benchmark result") < proc.stdout.index("SLOs: 1 met, 1 breached")
    (ttft, errors) = summary["slos"]
    assert (ttft["name"], ttft["met"], errors["met"]) == ("p95_ttft_ms", False, True)
    assert ttft["measured"] == pytest.approx(summary["p95_ttft_ms"])


def test_slos_above_the_servers_figures_exit_0_also_from_a_conf_file_list(tmp_path):
    conf = tmp_path / "gates.conf"
    conf.write_text("slo = [p95_ttft_ms=130, mean_tpot_ms=8]\n")
    proc, summary = slo_run(tmp_path, "--config", str(conf))
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    assert "SLOs: 2 met, 0 breached" in proc.stdout
    assert [s["name"] for s in summary["slos"]] == ["p95_ttft_ms", "mean_tpot_ms"]


def test_a_bad_slo_stops_before_the_run_with_one_line(tmp_path):
    proc, summary = run_locust("http://127.0.0.1:9", tmp_path, "--slo", "p95_ttft=100", "TextChatUser")
    assert proc.returncode == 2
    assert "error: --slo 'p95_ttft=100': expected NAME=MAX" in proc.stderr
    assert "Traceback" not in proc.stderr and summary is None


@pytest.mark.parametrize("processes", [(), ("--processes", "2")], ids=["local", "master-and-2-workers"])
def test_goodput_share_is_what_the_servers_ttft_distribution_gives(tmp_path, processes):
    """TTFT uniform on 50..150 ms and a 125 ms bound: 75 % of requests are good, each one a
    request the client saw within the bound, and only requests the emulator served in time."""
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-dist", "uniform", "--ttft-ms", "100", "--ttft-spread-ms", "50",
                        "--itl-ms", "1", "--seed", "7", "--log", str(log)) as emulator:
        proc, summary = run_locust(emulator.url, tmp_path, "-u", "24", "-r", "24", "-t", "5s",
                                   "--max-tokens", "4", "--csv", str(tmp_path / "run"), *processes,
                                   "TextChatUser", "--goodput", "ttft:125")
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = {r["request_id"]: r for r in read_jsonl(log)}
    assert len(served) >= 300  # enough for the share to be within 0.05 (its sd: 0.025 at 300)
    assert summary["goodput"] == {"ttft": 125.0}
    assert summary["goodput_share"] == pytest.approx(0.75, abs=0.05)
    rows = read_csv(tmp_path / "run_llm_requests.csv")
    assert len(rows) == len(served)
    # good is the unrounded TTFT within the bound; the CSV's is rounded to 1 µs
    assert all(r["good"] == str(int(float(r["ttft_ms"]) <= 125)) for r in rows
               if abs(float(r["ttft_ms"]) - 125) > 0.001)
    assert summary["good_requests"] == sum(r["good"] == "1" for r in rows)
    assert summary["goodput_share"] == pytest.approx(summary["good_requests"] / len(rows))
    # The server's own clock (arrival to first write, its load included) bounds the client's:
    # no request is good that the server served late, and the shares differ only by the
    # requests the server served just in time that reached the client just after the bound.
    assert all(served[r["request_id"]]["ttft_served_ms"] <= 125 + 2 for r in rows if r["good"] == "1")
    in_time = sum(r["ttft_served_ms"] <= 125 for r in served.values()) / len(served)
    assert summary["goodput_share"] == pytest.approx(in_time, abs=0.02)
    assert summary["request_goodput"] == pytest.approx(summary["good_requests"] / summary["duration"])
    assert summary["per_class"]["text"]["goodput_share"] == summary["goodput_share"]


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def locust_request_count(prefix: Path) -> int:
    rows = read_csv(Path(f"{prefix}_stats.csv"))
    return sum(int(r["Request Count"]) for r in rows if r["Type"] == "POST")


def csv_run(tmp_path: Path, *args: str) -> tuple[dict, list[dict]]:
    """A run stopped by -t while every request is mid-stream (each streams ~1 s)."""
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "50", "--itl-ms", "20", "--log", str(log)) as emulator:
        proc, summary = run_locust(emulator.url, tmp_path, "-u", "6", "-r", "6", "-t", "6s",
                                   "--max-tokens", "50", "--csv", str(tmp_path / "run"), *args,
                                   "TextChatUser", "Base64ImageChatUser")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return summary, read_jsonl(log)


def check_csvs(tmp_path: Path, summary: dict, served: list[dict]) -> None:
    requests = read_csv(tmp_path / "run_llm_requests.csv")
    assert len(requests) == len(served) == summary["completed"]
    assert sorted(r["request_id"] for r in requests) == sorted(r["request_id"] for r in served)
    assert {r["class"] for r in requests} == {"text", "base64"}
    assert all(int(r["images"]) == 1 for r in requests if r["class"] == "base64")
    assert locust_request_count(tmp_path / "run") == len(served)  # the drained requests too
    by_class = {r["class"]: r for r in read_csv(tmp_path / "run_llm.csv")}
    assert set(by_class) == {"text", "base64", "all"}
    assert int(by_class["all"]["completed"]) == len(served)
    assert float(by_class["all"]["p95_ttft_ms"]) == pytest.approx(summary["p95_ttft_ms"])


def test_the_csvs_hold_every_request_the_emulator_served_drained_ones_too(tmp_path):
    summary, served = csv_run(tmp_path)
    check_csvs(tmp_path, summary, served)


def test_a_master_writes_every_workers_requests_to_its_csv(tmp_path):
    summary, served = csv_run(tmp_path, "--processes", "2")
    assert summary["workers_reported"] == 2
    check_csvs(tmp_path, summary, served)


def test_a_headless_run_on_a_terminal_shows_one_progress_line(tmp_path):
    """stderr is a pseudo-terminal (stdout, with Locust's tables, goes elsewhere)."""
    master, slave = pty.openpty()
    with start_emulator(*FAST) as emulator:
        cmd = [*LOCUST, "--headless", "--host", emulator.url, "-u", "2", "-r", "2", "-t", "4s",
               "--max-tokens", "8", "TextChatUser"]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=slave,
                                stdin=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        os.close(slave)
        chunks = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # read until the child has exited and the terminal is drained (EOF may never come
            # while another process holds the terminal's other end)
            if not select.select([master], [], [], 0.2)[0]:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
    os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    lines = re.findall(r"\r\x1b\[K(\s*\d+%\|[^\r]*)\r", err)
    assert len(lines) >= 2, err[-2000:]
    assert re.search(r"\| 00:0\d<00:0\d  [\d,]+ req  [\d,]+ tok/s  TTFT p50 \d+ ms  0 errors$", lines[-1])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_mid_stream_still_writes_complete_reports_after_the_drain(tmp_path, sig):
    """Locust writes --html before the drain on Ctrl-C and not at all on SIGTERM; ours come after it."""
    code, summary, served, _, stderr = stop_mid_stream(
        tmp_path, sig, "--html", str(tmp_path / "report.html"), "--csv", str(tmp_path / "run"))
    assert code == 0, stderr[-3000:]
    assert summary["completed"] == len(served)
    assert len(read_csv(tmp_path / "run_llm_requests.csv")) == len(served)
    assert locust_request_count(tmp_path / "run") == len(served)
    html = (tmp_path / "report.html").read_text()
    assert html.count('id="llm-report"') == 1
    assert re.search(rf">text</td><td class=num>{len(served):,}</td>", html) or \
        re.search(rf">Aggregated</td><td class=num>{len(served):,}</td>", html)
    args = json.loads(re.search(r"window.templateArgs = (\{.*?\})\n", html, re.S).group(1))
    total = args["requests_statistics"][-1]  # Locust's own Aggregated row, drained requests in
    assert (total["name"], total["num_requests"]) == ("Aggregated", len(served))
