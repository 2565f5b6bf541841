"""How many SSE chunks per second the emulator writes on one core, and what CPU it spends.

The emulator runs as a subprocess pinned to one core; this process is the client (aiohttp, many
concurrent streams, on the other core when there is one). Each stream's body is read whole and its
events counted, so the client stays cheap. Server CPU comes from /proc via psutil.

    .venv/bin/python bench/bench_emulator.py                       # zero delays, 64 streams, 256 tokens
    .venv/bin/python bench/bench_emulator.py --itl-ms 7 --ttft-ms 120 --seconds 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from emulator.launch import start_emulator  # noqa: E402 - after the path set-up above

PROMPT = [{"role": "user", "content": "Write a haiku about load testing."}]


@dataclass(slots=True)
class Tally:
    """What the client saw during the measured window."""

    requests: int = 0
    events: int = 0
    errors: int = 0


async def _stream_once(session: aiohttp.ClientSession, url: str, body: bytes, tally: Tally) -> None:
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        data = await resp.read()
    if resp.status != 200 or not data.endswith(b"data: [DONE]\n\n"):
        tally.errors += 1
        return
    tally.requests += 1
    tally.events += data.count(b"\n\n")


async def _worker(
    session: aiohttp.ClientSession, url: str, body: bytes, stop_at: float, tally: Tally
) -> None:
    while time.perf_counter() < stop_at:
        await _stream_once(session, url, body, tally)


async def _drive(url: str, streams: int, seconds: float, max_tokens: int) -> tuple[Tally, float]:
    request = {"model": "emulator", "messages": PROMPT, "max_tokens": max_tokens, "stream": True}
    body = json.dumps(request).encode()
    endpoint = url + "/v1/chat/completions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=streams)) as session:
        tally = Tally()
        start = time.perf_counter()
        workers = [_worker(session, endpoint, body, start + seconds, tally) for _ in range(streams)]
        await asyncio.gather(*workers)
        return tally, time.perf_counter() - start


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _pin(pid: int, core: int) -> bool:
    """Pin `pid` to one core when the OS allows it; returns whether it did."""
    if not hasattr(os, "sched_setaffinity") or core >= (os.cpu_count() or 1):
        return False
    os.sched_setaffinity(pid, {core})
    return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=64, help="concurrent streams")
    p.add_argument("--seconds", type=float, default=8.0, help="measured window (keep it short: <= 15)")
    p.add_argument("--max-tokens", type=int, default=256, help="tokens per stream")
    p.add_argument("--ttft-ms", default="0", help="emulator --ttft-ms")
    p.add_argument("--itl-ms", default="0", help="emulator --itl-ms")
    p.add_argument("--tokens-per-chunk", default="1", help="emulator --tokens-per-chunk")
    args = p.parse_args()
    emu_args = ("--ttft-ms", args.ttft_ms, "--itl-ms", args.itl_ms,
                "--tokens-per-chunk", args.tokens_per_chunk)
    with start_emulator(*emu_args) as emu:
        pinned = _pin(emu.pid, 0) and _pin(os.getpid(), 1)
        server = psutil.Process(emu.pid)
        asyncio.run(_drive(emu.url, args.streams, 1.0, args.max_tokens))  # warm-up, not counted
        cpu0 = _cpu_s(server)
        tally, wall = asyncio.run(_drive(emu.url, args.streams, args.seconds, args.max_tokens))
        server_cpu = _cpu_s(server) - cpu0
    result = {
        "streams": args.streams,
        "max_tokens": args.max_tokens,
        "ttft_ms": float(args.ttft_ms),
        "itl_ms": float(args.itl_ms),
        "tokens_per_chunk": int(args.tokens_per_chunk),
        "pinned_one_core": pinned,
        "wall_s": round(wall, 3),
        "requests": tally.requests,
        "errors": tally.errors,
        "sse_events_per_s": round(tally.events / wall),
        "tokens_per_s": round(tally.requests * args.max_tokens / wall),
        "server_cpu_s": round(server_cpu, 3),
        "server_cpu_share": round(server_cpu / wall, 3),
        "sse_events_per_server_cpu_s": round(tally.events / server_cpu) if server_cpu else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
