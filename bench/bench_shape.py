"""Tokens per client CPU-second in the shape real servers send, against aiohttp, in the same run.

vLLM, SGLang and llama.cpp write each token on its own, a few ms apart, so a client wakes up
once per token; that wake-up, not parsing, is what a token costs. The emulator does the same
with ``--itl-ms 7`` (each event its own write when it is due). It runs pinned to one core and
each client, in a process of its own, to the other:

- ``aiohttp``: a plain asyncio + aiohttp client (as vLLM's benchmark): reads lines, ``json.loads``
  every ``data:`` chunk, stamps each token with ``perf_counter()``;
- ``ours``: the project's ChatClient on gevent with per-token Locust stats on (a real Locust
  Environment and the plugin's reporter) and the exact metrics: the whole per-token path.

- ``locust``: the real ``locust -f locustfile.py --headless`` command with ``TextChatUser``, as a
  user runs it (``--locust-seconds`` long, 20 by default): its tokens from the run's JSON summary.

Both at 64 and 256 streams, plus the zero-delay shape (whole bodies in one write) at 32 streams.
Each client's CPU is counted twice: over its run (from the first request to the last byte) and
over its whole process (the interpreter's start, imports and, for ``locust``, the tokenizer,
the prompts and the reports included); ``locust`` has only the second, held against aiohttp's.
The emulator's CPU share over each run is printed beside it (it must not be the bottleneck), and a
profile of ``ours`` at the largest stream count gives the top lines of the per-token cost.

    .venv/bin/python bench/bench_shape.py [--seconds 8 --streams 64,256 --itl-ms 7]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_client import run_aiohttp, run_ours  # noqa: E402 - after the path set-up above

CLIENT_CORE, SERVER_CORE = 0, 1


def pin(core: int) -> None:
    """Run this process on one core (when the machine has it)."""
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def children_cpu() -> float:
    """CPU seconds of this process's finished (waited-for) children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child(role: str, url: str, args: argparse.Namespace, streams: int, max_tokens: int,
          profile: bool = False) -> dict:
    """One client in a process of its own; ``process_cpu_s`` is that whole process's CPU."""
    cmd = [sys.executable, __file__, "--role", role, "--url", url, "--seconds", str(args.seconds),
           "--streams", str(streams), "--max-tokens", str(max_tokens)]
    if profile:
        cmd.append("--profile")
    cpu0 = children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_cpu_s"] = children_cpu() - cpu0
    return result


def locust_command(url: str, args: argparse.Namespace, streams: int, max_tokens: int) -> dict:
    """The real ``locust`` command, headless, ``streams`` text users, on the client core."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfile.py"), "--headless", "--host", url,
               "-u", str(streams), "-r", str(streams), "-t", f"{args.locust_seconds}s",
               "--max-tokens", str(max_tokens), "--only-summary", "--summary-json", str(summary),
               "TextChatUser"]
        env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
        cpu0 = children_cpu()
        subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO, env=env,
                       preexec_fn=lambda: pin(CLIENT_CORE))
        cpu = children_cpu() - cpu0
        totals = json.loads(summary.read_text())
    return {"tokens": totals["total_output_tokens"], "failed": totals["failed"], "process_cpu_s": cpu}


def measured(run: Callable[[], dict], server: psutil.Process) -> dict:
    """One client run, with the emulator's CPU share over it and tokens per client CPU-second:
    over the run where the client counts its own CPU, over its whole process always."""
    cpu0, t0 = server.cpu_times(), time.perf_counter()
    result = run()
    cpu1, wall = server.cpu_times(), time.perf_counter() - t0
    result["server_cpu_share"] = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall
    if "cpu_s" in result:
        result["tokens_per_cpu_s"] = result["tokens"] / result["cpu_s"]
    result["tokens_per_process_cpu_s"] = result["tokens"] / result["process_cpu_s"]
    return result


def describe(label: str, streams: int, role: str, r: dict) -> str:
    run = (f"{r['cpu_s']:5.2f} CPU-s  {r['tokens_per_cpu_s']:>8.0f} tok/CPU-s" if "cpu_s" in r
           else f"{'':5}  {'':5}  {'':>8}  {'':9}")
    return (f"{label:10} {streams:4} streams  {role:8} {r['tokens']:>8} tokens  {run}  whole process "
            f"{r['process_cpu_s']:5.2f} CPU-s {r['tokens_per_process_cpu_s']:>8.0f} tok/CPU-s  "
            f"failed {r.get('failed', 0)}  emulator CPU {r['server_cpu_share']:.0%}")


def run_role(role: str, args: argparse.Namespace) -> None:
    pin(CLIENT_CORE)
    if role == "aiohttp":
        print(json.dumps(run_aiohttp(args.url, args.seconds, args.streams, args.max_tokens)))
        return
    if not args.profile:
        print(json.dumps(run_ours(args.url, args.seconds, args.streams, args.max_tokens)))
        return
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    result = run_ours(args.url, args.seconds, args.streams, args.max_tokens)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(14)
    result["profile"] = text.getvalue()
    print(json.dumps(result))


def shape(label: str, emulator_args: tuple[str, ...], streams: list[int], max_tokens: int,
          args: argparse.Namespace, profile: bool, command: bool) -> dict[int, dict[str, float]]:
    """The clients at each stream count against one emulator; ratios against aiohttp, by name:
    ``run`` (ours, CPU over the run), ``process`` (ours, whole process), ``locust`` (the real
    command, whole process, when ``command``)."""
    from emulator.launch import start_emulator

    ratios: dict[int, dict[str, float]] = {}
    with start_emulator(*emulator_args) as emulator:
        server = psutil.Process(emulator.pid)
        server.cpu_affinity([SERVER_CORE])
        for n in streams:
            rows = {role: measured(partial(child, role, emulator.url, args, n, max_tokens), server)
                    for role in ("aiohttp", "ours")}
            if command:
                rows["locust"] = measured(partial(locust_command, emulator.url, args, n, max_tokens), server)
            for role, r in rows.items():
                print(describe(label, n, role, r), flush=True)
            base, whole = rows["aiohttp"], "tokens_per_process_cpu_s"
            ratios[n] = {"run": rows["ours"]["tokens_per_cpu_s"] / base["tokens_per_cpu_s"],
                         "process": rows["ours"][whole] / base[whole]}
            if command:
                ratios[n]["locust"] = rows["locust"][whole] / base[whole]
            print(f"{label:10} {n:4} streams  against aiohttp: " + _ratios(ratios[n]), flush=True)
        if profile:
            result = child("ours", emulator.url, args, streams[-1], max_tokens, profile=True)
            print(f"profile of ours, {streams[-1]} streams ({label}; cProfile slows it, so ratios come from "
                  "the runs above):")
            lines = result["profile"].splitlines()
            start = next(i for i, line in enumerate(lines) if "ncalls" in line)
            print("\n".join(lines[start:start + 15]), flush=True)
    return ratios


def _ratios(ratios: dict[str, float]) -> str:
    names = {"run": "ours over its run", "process": "ours, whole process",
             "locust": "the locust command, whole process"}
    return ", ".join(f"{names[key]} {ratio:.2f}x" for key, ratio in ratios.items())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--streams", default="64,256")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--itl-ms", default="7")
    p.add_argument("--ttft-ms", default="50")
    p.add_argument("--locust-seconds", type=int, default=20, help="length of the locust command's runs")
    p.add_argument("--no-command", action="store_true", help="skip the real locust command")
    p.add_argument("--no-zero-delay", action="store_true", help="skip the zero-delay shape")
    p.add_argument("--role", choices=["ours", "aiohttp"])
    p.add_argument("--url")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    if args.role:
        args.streams = int(args.streams)
        run_role(args.role, args)
        return
    streams = [int(n) for n in args.streams.split(",")]
    real = shape("each-token", ("--ttft-ms", args.ttft_ms, "--itl-ms", args.itl_ms), streams, args.max_tokens,
                 args, profile=True, command=not args.no_command)
    zero = {} if args.no_zero_delay else shape("zero-delay", ("--ttft-ms", "0", "--itl-ms", "0"), [32], 1024,
                                                  args, profile=False, command=False)
    for n, ratios in real.items():
        target = " (target 2x)" if n >= 256 else ""
        print(f"each token its own write, {n} streams{target}: {_ratios(ratios)}")
    for n, ratios in zero.items():
        print(f"zero delays, {n} streams (target 1.5x): {_ratios(ratios)}")


if __name__ == "__main__":
    main()
