"""Tokens per client CPU-second in the shape real servers send, against aiohttp, in the same run.

vLLM, SGLang and llama.cpp write each token on its own, a few ms apart, so a client wakes up
once per token; that wake-up, not parsing, is what a token costs. The emulator does the same
with ``--itl-ms 7`` (each event its own write when it is due). It runs pinned to one core and
each client, in a process of its own, to the other:

- ``aiohttp``: a plain asyncio + aiohttp client (as vLLM's benchmark): reads lines, ``json.loads``
  every ``data:`` chunk, stamps each token with ``perf_counter()``;
- ``ours``: the project's ChatClient on gevent with per-token Locust stats on (a real Locust
  Environment and the plugin's reporter) and the exact metrics: the whole per-token path.

Both at 64 and 256 streams, plus the zero-delay shape (whole bodies in one write) at 32 streams.
The emulator's CPU share over each run is printed beside it (it must not be the bottleneck), and a
profile of ``ours`` at the largest stream count gives the top lines of the per-token cost.

    .venv/bin/python bench/bench_shape.py [--seconds 8 --streams 64,256 --itl-ms 7]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
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


def child(role: str, url: str, args: argparse.Namespace, streams: int, max_tokens: int,
          profile: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--role", role, "--url", url, "--seconds", str(args.seconds),
           "--streams", str(streams), "--max-tokens", str(max_tokens)]
    if profile:
        cmd.append("--profile")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measured(role: str, url: str, args: argparse.Namespace, streams: int, max_tokens: int,
             server: psutil.Process) -> dict:
    """One client run, with the emulator's CPU share over it."""
    cpu0, t0 = server.cpu_times(), time.perf_counter()
    result = child(role, url, args, streams, max_tokens)
    cpu1, wall = server.cpu_times(), time.perf_counter() - t0
    result["server_cpu_share"] = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall
    result["tokens_per_cpu_s"] = result["tokens"] / result["cpu_s"]
    return result


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
          args: argparse.Namespace, profile: bool) -> dict[int, float]:
    """Both clients at each stream count against one emulator; ratios ours / aiohttp."""
    from emulator.launch import start_emulator

    ratios = {}
    with start_emulator(*emulator_args) as emulator:
        server = psutil.Process(emulator.pid)
        server.cpu_affinity([SERVER_CORE])
        for n in streams:
            rows = {role: measured(role, emulator.url, args, n, max_tokens, server)
                    for role in ("aiohttp", "ours")}
            for role, r in rows.items():
                print(f"{label:10} {n:4} streams  {role:8} {r['tokens']:>8} tokens  {r['cpu_s']:5.2f} CPU-s  "
                      f"{r['tokens_per_cpu_s']:>8.0f} tok/CPU-s  failed {r.get('failed', 0)}  "
                      f"emulator CPU {r['server_cpu_share']:.0%}", flush=True)
            ratios[n] = rows["ours"]["tokens_per_cpu_s"] / rows["aiohttp"]["tokens_per_cpu_s"]
            print(f"{label:10} {n:4} streams  ours / aiohttp: {ratios[n]:.2f}x", flush=True)
        if profile:
            result = child("ours", emulator.url, args, streams[-1], max_tokens, profile=True)
            print(f"profile of ours, {streams[-1]} streams ({label}; cProfile slows it, so ratios come from "
                  "the runs above):")
            lines = result["profile"].splitlines()
            start = next(i for i, line in enumerate(lines) if "ncalls" in line)
            print("\n".join(lines[start:start + 15]), flush=True)
    return ratios


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--streams", default="64,256")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--itl-ms", default="7")
    p.add_argument("--ttft-ms", default="50")
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
                 args, profile=True)
    zero = {} if args.no_zero_delay else shape("zero-delay", ("--ttft-ms", "0", "--itl-ms", "0"), [32], 1024,
                                                  args, profile=False)
    for n, ratio in real.items():
        target = " (target 2x)" if n >= 256 else ""
        print(f"each token its own write, {n} streams: {ratio:.2f}x aiohttp{target}")
    for n, ratio in zero.items():
        print(f"zero delays, {n} streams: {ratio:.2f}x aiohttp (target 1.5x)")


if __name__ == "__main__":
    main()
