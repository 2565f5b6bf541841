"""Distributed scaling: tokens/s of N workers over N x one worker, in the shape real servers send.

The emulator writes each token on its own, ``--itl-ms`` apart (what vLLM, SGLang and
llama.cpp do), so every token costs the client a wake-up. Each run is a headless master
with N worker processes started as a pod starts them (``--worker --master-host`` only),
``--users-per-worker`` users each; the master's summary gives the output tokens/s, and the
workers' CPU seconds (psutil) over the wall time give the cores they used.

    .venv/bin/python bench/bench_distributed.py [--workers 1,2 --users-per-worker 64 --seconds 15]

On a 2-core machine the emulator shares the cores with the workers, so two workers cannot
scale to 2x there: read the efficiency with the cores used beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from emulator.launch import start_emulator  # noqa: E402 - after the path

LOCUST = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfile.py")]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(url: str, workers: int, users: int, seconds: float, max_tokens: int) -> dict:
    """One headless run with ``workers`` workers of ``users`` users each."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        summary_path = Path(tmp) / "summary.json"
        master = subprocess.Popen(
            [*LOCUST, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--headless", "--expect-workers", str(workers), "-u", str(users * workers),
             "-r", str(users * workers), "-t", f"{seconds:g}s", "--host", url,
             "--max-tokens", str(max_tokens),
             "--summary-json", str(summary_path), "--only-summary", "TextChatUser"],
            cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        worker = [*LOCUST, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        pods = [subprocess.Popen(worker, cwd=REPO, env=ENV, **quiet) for _ in range(workers)]
        procs = [psutil.Process(p.pid) for p in pods]
        t0 = time.perf_counter()
        master.wait(timeout=seconds + 120)
        wall = time.perf_counter() - t0
        cpu = 0.0
        for proc, pod in zip(procs, pods, strict=True):
            try:
                times = proc.cpu_times()
                cpu += times.user + times.system
            except psutil.NoSuchProcess:
                pass
            pod.wait(timeout=60)
        summary = json.loads(summary_path.read_text())
    return {"workers": workers, "tokens_per_s": summary["output_throughput"],
            "completed": summary["completed"], "failed": summary["failed"],
            "worker_cores": cpu / wall, "tokens_per_worker_cpu_s": summary["total_output_tokens"] / cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    parser.add_argument("--users-per-worker", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--itl-ms", type=float, default=7.0)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    with start_emulator("--ttft-ms", "50", "--itl-ms", str(args.itl_ms)) as emulator:
        results = [run(emulator.url, n, args.users_per_worker, args.seconds, args.max_tokens) for n in counts]
    one = next((r for r in results if r["workers"] == 1), results[0])
    heads = (("workers", 8), ("tokens/s", 12), ("x one", 8), ("efficiency", 12), ("cores", 8),
             ("tok/cpu-s", 11), ("failed", 8))
    print("".join(f"{name:>{width}}" for name, width in heads))
    for r in results:
        ratio = r["tokens_per_s"] / one["tokens_per_s"]
        print(f"{r['workers']:>8}{r['tokens_per_s']:>12.0f}{ratio:>8.2f}{ratio / r['workers']:>12.2f}"
              f"{r['worker_cores']:>8.2f}{r['tokens_per_worker_cpu_s']:>11.0f}{r['failed']:>8}")


if __name__ == "__main__":
    main()
