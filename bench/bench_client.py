"""The per-token ceiling: tokens per CPU-second of this project's client against a plain client.

Both stream from the emulator with zero delays (each body written in one go, so the
server is not the bottleneck), each in its own process so CPU time is counted apart:

- ``ours``: the project's ChatClient on gevent, with per-token Locust stats on (a real
  Locust Environment and the plugin's reporter) and the exact metrics;
- ``aiohttp``: a plain asyncio + aiohttp client that reads lines, parses every ``data:``
  chunk with ``json.loads`` and stamps each token with ``perf_counter()``.

    .venv/bin/python bench/bench_client.py [--seconds 8 --streams 32 --max-tokens 1024]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROMPT = [{"role": "user", "content": "Write a haiku about load testing."}]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def body(max_tokens: int) -> dict:
    return {"model": "emulator", "messages": PROMPT, "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}}


def run_ours(url: str, seconds: float, streams: int, max_tokens: int) -> dict:
    from gevent import monkey

    monkey.patch_all()
    import gevent
    from locust import events
    from locust.env import Environment

    from conf.settings import Settings
    from metrics.collector import LlmMetrics
    from plugin.reporter import LocustReporter
    from plugin.runtime import Runtime
    from streaming.record import RequestRecord
    from transport.http import Target
    from transport.inflight import InFlight

    env = Environment(events=events)
    env.create_local_runner()  # attaches Locust's stats listener to the request event
    settings = Settings(target=Target.parse(url), model="emulator", endpoint="/v1/chat/completions")
    runtime = Runtime(settings)
    metrics, inflight = LlmMetrics(), InFlight()
    path = settings.endpoint

    def count(record: RequestRecord, retried: bool) -> None:
        (metrics.add_retry if retried else metrics.add)(record)

    tokens = 0
    stop_at = time.perf_counter() + seconds

    def user() -> None:
        nonlocal tokens
        client = runtime.new_client(LocustReporter(env, path, "text", count), inflight)
        while time.perf_counter() < stop_at:
            record = client.send(path, body(max_tokens), RequestRecord("text"))
            tokens += record.output_tokens if record.ok else 0

    gc.collect()
    gc.freeze()  # as the plugin does at a run's start (plugin/lifecycle.py)
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    gevent.joinall([gevent.spawn(user) for _ in range(streams)])
    itl = env.stats.get("ITL [text]", "LLM").num_requests
    return {"tokens": tokens, "cpu_s": cpu_seconds() - cpu0, "wall_s": time.perf_counter() - t0,
            "locust_itl_events": itl, "failed": metrics.overall().failed}


def run_aiohttp(url: str, seconds: float, streams: int, max_tokens: int) -> dict:
    import asyncio

    import aiohttp

    payload = json.dumps(body(max_tokens)).encode()
    tokens = 0
    stop_at = time.perf_counter() + seconds

    async def user(session: aiohttp.ClientSession) -> None:
        nonlocal tokens
        while time.perf_counter() < stop_at:
            stamps = []
            async with session.post(url + "/v1/chat/completions", data=payload,
                                    headers={"Content-Type": "application/json"}) as resp:
                async for line in resp.content:
                    if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                        continue
                    chunk = json.loads(line[6:])
                    choices = chunk.get("choices")
                    if choices and choices[0].get("delta", {}).get("content"):
                        stamps.append(time.perf_counter())
            tokens += len(stamps)

    async def main() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=streams)) as session:
            await asyncio.gather(*(user(session) for _ in range(streams)))

    cpu0, t0 = cpu_seconds(), time.perf_counter()
    asyncio.run(main())
    return {"tokens": tokens, "cpu_s": cpu_seconds() - cpu0, "wall_s": time.perf_counter() - t0}


def child(role: str, args: argparse.Namespace, url: str) -> dict:
    cmd = [sys.executable, __file__, "--role", role, "--url", url, "--seconds", str(args.seconds),
           "--streams", str(args.streams), "--max-tokens", str(args.max_tokens)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--streams", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=1024)
    p.add_argument("--role", choices=["ours", "aiohttp"])
    p.add_argument("--url")
    args = p.parse_args()
    if args.role:
        run = run_ours if args.role == "ours" else run_aiohttp
        print(json.dumps(run(args.url, args.seconds, args.streams, args.max_tokens)))
        return
    from emulator.launch import start_emulator

    with start_emulator("--ttft-ms", "0", "--itl-ms", "0") as emulator:
        results = {role: child(role, args, emulator.url) for role in ("aiohttp", "ours")}
    for role, r in results.items():
        r["tokens_per_cpu_s"] = r["tokens"] / r["cpu_s"]
        r["tokens_per_s"] = r["tokens"] / r["wall_s"]
        print(f"{role:8} {r['tokens']:>9} tokens  {r['cpu_s']:6.2f} CPU-s  {r['wall_s']:6.2f} s  "
              f"{r['tokens_per_s']:>9.0f} tok/s  {r['tokens_per_cpu_s']:>9.0f} tok/CPU-s")
    ratio = results["ours"]["tokens_per_cpu_s"] / results["aiohttp"]["tokens_per_cpu_s"]
    print(f"ours / aiohttp, tokens per CPU-second: {ratio:.2f}x (target 1.5x; 100,000+ tok/s)")


if __name__ == "__main__":
    main()
