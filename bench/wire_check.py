"""How exact is the client? Every request's TTFT and ITL held against the packets on the wire.

``tcpdump`` captures loopback while the project's client (the ChatClient with per-token Locust
stats, as in a run) streams from the emulator. The capture is the truth: a request starts at
the kernel's time of its first segment, a token arrives at the time of the segment that
completed its SSE event. Each request the client measured is matched to its connection (the
client's port) and its place on it, and the client's figures are compared with the wire's:

- TTFT error: client TTFT - wire TTFT, per request (mean, p50, p99, max);
- ITL error: the client's mean ITL - the wire's, per request (p99 of the absolute error).

The emulator runs on one core, the client and tcpdump's writer on the other when there are two.
Targets: TTFT error p99 <= 2 ms at 256 streams, mean within 0.5 ms, ITL within 0.1 ms.

    .venv/bin/python bench/wire_check.py [--streams 64,256 --seconds 8 --itl-ms 7]
    make selfcheck
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CLIENT_CORE, SERVER_CORE = 0, 1
TARGETS = {"ttft_p99_ms": 2.0, "ttft_mean_ms": 0.5, "itl_p99_ms": 0.1}


@dataclass(slots=True)
class WireRequest:
    """One request as the capture saw it (times on the client's perf_counter scale)."""

    sent: float
    tokens: list[float] = field(default_factory=list)


def pin(core: int, pid: int = 0) -> None:
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(pid, {core})


# -- the client -------------------------------------------------------------------------------------
def run_client(url: str, seconds: float, streams: int, max_tokens: int) -> dict:
    """Stream for ``seconds`` with ``streams`` users; each request's port, start and token times."""
    from gevent import monkey

    monkey.patch_all()
    import gevent
    from locust import events
    from locust.env import Environment

    from conf.settings import Settings
    from conf.target import Target
    from metrics.collector import LlmMetrics
    from plugin.reporter import LocustReporter
    from plugin.runtime import Runtime
    from streaming.record import RequestRecord
    from transport.inflight import InFlight

    pin(CLIENT_CORE)
    env = Environment(events=events)
    env.create_local_runner()
    settings = Settings(target=Target.parse(url), model="emulator", endpoint="/v1/chat/completions")
    runtime, metrics, inflight = Runtime(settings), LlmMetrics(), InFlight()
    body = {"model": "emulator", "messages": [{"role": "user", "content": "Write a haiku."}],
            "max_tokens": max_tokens, "stream": True, "stream_options": {"include_usage": True}}
    out: list[dict] = []
    stop_at = time.perf_counter() + seconds

    def count(record: RequestRecord, retried: bool) -> None:
        (metrics.add_retry if retried else metrics.add)(record)

    def user() -> None:
        client = runtime.new_client(LocustReporter(env, settings.endpoint, "text", count), inflight)
        while time.perf_counter() < stop_at:
            record = client.send(settings.endpoint, dict(body), RequestRecord("text"))
            conn = client.http.socket
            out.append({"port": conn.local_port if conn is not None else 0, "ok": record.ok,
                        "t_start": record.t_start, "tokens": list(record.token_times)})

    gevent.joinall([gevent.spawn(user) for _ in range(streams)])
    return {"requests": out, "offset": time.time() - time.perf_counter()}


# -- the capture ------------------------------------------------------------------------------------
def start_capture(port: int, path: Path) -> subprocess.Popen:
    """tcpdump on loopback, nanosecond stamps, whole segments, a large buffer (no drops)."""
    cmd = ["tcpdump", "-i", "lo", "-n", "-U", "-s", "65535", "-B", "262144", "--time-stamp-precision=nano",
           "-w", str(path), "tcp", "port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (not path.exists() or path.stat().st_size == 0):
        if proc.poll() is not None:
            raise RuntimeError(f"tcpdump cannot capture: {proc.stderr.read().strip()}")
        time.sleep(0.05)
    _wait_until_capturing(port, path, proc)
    return proc


def _wait_until_capturing(port: int, path: Path, proc: subprocess.Popen) -> None:
    """Knock on ``port`` until the capture file grows (tcpdump writes each packet as it goes, -U):
    then everything sent before the knock is captured."""
    header = path.stat().st_size
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as knock:
            knock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            knock.recv(4096)
        time.sleep(0.2)
        if path.stat().st_size > header:
            return
    raise RuntimeError("tcpdump started but captured nothing on loopback")


def stop_capture(proc: subprocess.Popen, port: int, path: Path) -> str:
    """Stop tcpdump once it has written a knock sent after the run (packets still in its buffer
    when it stopped were lost: the last tokens of each connection's last request); its closing
    lines (packets captured, dropped by kernel)."""
    _wait_until_capturing(port, path, proc)
    size, deadline = -1, time.monotonic() + 10
    while path.stat().st_size != size and time.monotonic() < deadline:  # until nothing more comes
        size = path.stat().st_size
        time.sleep(0.3)
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    return " ".join(line for line in err.splitlines() if "packets" in line)


def capture_error() -> str | None:
    """Why this machine cannot capture loopback packets, or None when it can."""
    if shutil.which("tcpdump") is None:
        return "tcpdump is not installed (Debian: apt-get install tcpdump)"
    with tempfile.TemporaryDirectory() as folder:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        try:
            start_capture(listener.getsockname()[1], Path(folder) / "probe.pcap").terminate()
        except (RuntimeError, OSError) as exc:
            return str(exc)
        finally:
            listener.close()
    return None


def read_wire(path: Path, server_port: int, offset: float) -> dict[int, list[WireRequest]]:
    """Per client port, its requests in order: the first segment's time and each token's time.

    The server's bytes of a connection are joined in sequence order; a token's time is the time
    of the segment holding the end of its SSE event (where the client could first parse it).
    """
    import dpkt

    sent: dict[int, list[float]] = defaultdict(list)
    received: dict[int, list[tuple[int, float, bytes]]] = defaultdict(list)
    with open(path, "rb") as handle:
        for ts, frame in dpkt.pcap.Reader(handle):
            ip = dpkt.ethernet.Ethernet(frame).data
            tcp = getattr(ip, "data", None)
            if not isinstance(tcp, dpkt.tcp.TCP) or not tcp.data:
                continue
            t = float(ts) - offset
            if tcp.dport == server_port and tcp.data.startswith((b"POST ", b"GET ")):
                sent[tcp.sport].append(t)
            elif tcp.sport == server_port:
                received[tcp.dport].append((tcp.seq, t, bytes(tcp.data)))
    return {port: _requests(sent[port], received.get(port, [])) for port in sent}


def _requests(starts: list[float], segments: list[tuple[int, float, bytes]]) -> list[WireRequest]:
    import orjson

    from streaming.chunks import chat_chunk
    from streaming.record import RequestRecord

    requests = [WireRequest(t) for t in starts]
    segments.sort(key=lambda s: s[0])
    stream, times, seen = bytearray(), [], set()
    for seq, t, data in segments:
        if seq in seen:  # a retransmission
            continue
        seen.add(seq)
        stream += data
        times.append((len(stream), t))
    index, at, scratch = -1, 0, RequestRecord("wire")
    response_starts = [i for i in _find_all(stream, b"HTTP/1.1 ")]
    event_end = stream.find(b"\n\n")
    cursor = 0
    while event_end >= 0:
        end = event_end + 2
        while index + 1 < len(response_starts) and response_starts[index + 1] < end:
            index += 1
        block = bytes(stream[cursor:end])
        data_at = block.rfind(b"data: ")
        if 0 <= index < len(requests) and data_at >= 0 and not block.endswith(b"[DONE]\n\n"):
            try:
                obj = orjson.loads(block[data_at + 6:])
                if isinstance(obj, dict) and chat_chunk(obj, scratch):
                    while times[at][0] < end:
                        at += 1
                    requests[index].tokens.append(times[at][1])
            except orjson.JSONDecodeError:
                pass
        cursor = end
        event_end = stream.find(b"\n\n", end)
    return requests


def _find_all(data: bytearray, needle: bytes) -> list[int]:
    out, at = [], data.find(needle)
    while at >= 0:
        out.append(at)
        at = data.find(needle, at + 1)
    return out


# -- the comparison ---------------------------------------------------------------------------------
def compare(client: dict, wire: dict[int, list[WireRequest]]) -> dict:
    by_port: dict[int, list[dict]] = defaultdict(list)
    for request in client["requests"]:
        by_port[request["port"]].append(request)
    ttft, itl, unmatched = [], [], 0
    for port, requests in by_port.items():
        seen = wire.get(port, [])
        for mine, truth in zip(requests, seen, strict=False):
            if not mine["ok"] or len(mine["tokens"]) != len(truth.tokens) or not truth.tokens:
                unmatched += 1
                continue
            ttft.append(((mine["tokens"][0] - mine["t_start"]) - (truth.tokens[0] - truth.sent)) * 1000)
            if len(truth.tokens) > 1:
                gaps = len(truth.tokens) - 1
                client_itl = (mine["tokens"][-1] - mine["tokens"][0]) / gaps
                wire_itl = (truth.tokens[-1] - truth.tokens[0]) / gaps
                itl.append(abs(client_itl - wire_itl) * 1000)
        unmatched += max(0, len(requests) - len(seen))
    return {"requests": len(ttft), "unmatched": unmatched, **_summary("ttft", ttft),
            **_summary("itl_abs", itl)}


def _summary(name: str, values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {f"{name}_mean_ms": statistics.fmean(values), f"{name}_p50_ms": pct(0.5),
            f"{name}_p99_ms": pct(0.99), f"{name}_max_ms": ordered[-1]}


def check(streams: int, seconds: float, itl_ms: str, ttft_ms: str, max_tokens: int) -> dict:
    """One capture against a fresh emulator; the comparison's figures."""
    from emulator.launch import start_emulator

    emulator = start_emulator("--ttft-ms", ttft_ms, "--itl-ms", itl_ms)
    with tempfile.TemporaryDirectory() as folder, emulator as emu:
        pin(SERVER_CORE, emu.pid)
        port = int(emu.url.rsplit(":", 1)[1])
        pcap = Path(folder) / "wire.pcap"
        tcpdump = start_capture(port, pcap)
        pin(SERVER_CORE, tcpdump.pid)
        cmd = [sys.executable, __file__, "--role", "client", "--url", emu.url, "--seconds", str(seconds),
               "--streams", str(streams), "--max-tokens", str(max_tokens)]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
        finally:
            counts = stop_capture(tcpdump, port, pcap)
        client = json.loads(out.stdout.strip().splitlines()[-1])
        result = compare(client, read_wire(pcap, port, client["offset"]))
    result["streams"], result["capture"] = streams, counts
    return result


def verdict(result: dict) -> list[str]:
    """What missed its target (empty: all met)."""
    missed = []
    if result.get("ttft_p99_ms", 1e9) > TARGETS["ttft_p99_ms"]:
        missed.append(f"TTFT error p99 {result.get('ttft_p99_ms', float('nan')):+.2f} ms")
    if abs(result.get("ttft_mean_ms", 1e9)) > TARGETS["ttft_mean_ms"]:
        missed.append(f"TTFT error mean {result.get('ttft_mean_ms', float('nan')):+.2f} ms")
    if result.get("itl_abs_p99_ms", 1e9) > TARGETS["itl_p99_ms"]:
        missed.append(f"ITL error p99 {result.get('itl_abs_p99_ms', float('nan')):.3f} ms")
    return missed


def report(r: dict) -> str:
    """The figures of one check, as the bench prints them."""
    nan = float("nan")
    return "\n".join([
        f"{r['streams']:4} streams: {r['requests']} requests held against the wire "
        f"({r['unmatched']} unmatched; {r['capture']})",
        f"     TTFT error (client - wire), ms: mean {r.get('ttft_mean_ms', nan):+.3f}  "
        f"p50 {r.get('ttft_p50_ms', nan):+.3f}  p99 {r.get('ttft_p99_ms', nan):+.3f}  "
        f"max {r.get('ttft_max_ms', nan):+.3f}",
        f"     per-request mean ITL error, ms: p50 {r.get('itl_abs_p50_ms', nan):.4f}  "
        f"p99 {r.get('itl_abs_p99_ms', nan):.4f}  max {r.get('itl_abs_max_ms', nan):.4f}",
    ])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", default="64,256")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--itl-ms", default="7")
    p.add_argument("--ttft-ms", default="50")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--role", choices=["client"])
    p.add_argument("--url")
    args = p.parse_args()
    if args.role:
        print(json.dumps(run_client(args.url, args.seconds, int(args.streams), args.max_tokens)))
        return 0
    reason = capture_error()
    if reason is not None:
        print(f"wire check skipped: {reason}")
        return 0
    failed = False
    for streams in (int(n) for n in args.streams.split(",")):
        r = check(streams, args.seconds, args.itl_ms, args.ttft_ms, args.max_tokens)
        print(report(r))
        missed = verdict(r)
        print("     " + ("within targets" if not missed else "MISSED: " + "; ".join(missed)), flush=True)
        failed = failed or bool(missed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
