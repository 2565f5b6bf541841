"""Memory, add() speed and percentile accuracy of the log-bucketed distribution, against baselines.

For each shape of `--samples` samples (E2E latencies of a soak test, lognormal around 2 s; ITL gaps
uniform over 4-6 ms; a wide spread 1 us..100 s):
1. Bytes held (tracemalloc) by the distribution, by the exact count-per-microsecond dict it
   replaced (a small copy below) and by a raw numpy float64 array; and the bytes of each
   structure's `to_dict()` packed with msgpack (what a worker ships every 3 s).
2. Percentile error p50/p90/p95/p99/p99.9 against numpy's default on the raw samples.
Then ns per add() for both on each shape, one sample at a time as the collector calls it.

    .venv/bin/python bench/bench_distribution.py                  # 10 M samples a shape
    .venv/bin/python bench/bench_distribution.py --samples 100000

Exit status: 0 every percentile within 0.1 %, 1 one was not, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import msgpack
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from metrics.distribution import Distribution  # noqa: E402 - after the path set-up above

QS = (50, 90, 95, 99, 99.9)
BOUND = 1e-3
ADDS = 1_000_000


class ExactDict:
    """The replaced approach, as the baseline: one count per distinct microsecond, plus sums."""

    __slots__ = ("counts", "n", "total", "total_sq")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.total = 0.0
        self.total_sq = 0.0

    def add(self, seconds: float) -> None:
        key = round(seconds * 1e6)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        self.n += 1
        self.total += seconds
        self.total_sq += seconds * seconds

    def to_dict(self) -> dict:
        return {"counts": list(self.counts.items()), "n": self.n, "sum": self.total, "sumsq": self.total_sq}


def shapes(count: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "e2e lognormal ~2 s": rng.lognormal(np.log(2.0), 0.5, count),
        "itl uniform 4-6 ms": rng.uniform(0.004, 0.006, count),
        "wide 1 us..100 s": np.exp(rng.uniform(np.log(1e-6), np.log(100.0), count)),
    }


def held_bytes(build: Callable[[], object]) -> tuple[object, int]:
    """What ``build()`` returns, and the bytes it still holds once built (tracemalloc)."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    built = build()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return built, held


def filled(cls: type, samples: list[float]) -> Callable[[], object]:
    def build() -> object:
        dist = cls()
        add = dist.add
        for s in samples:
            add(s)
        if isinstance(dist, Distribution):
            dist.buckets  # noqa: B018 - fold the buffer, so what is held is the steady state
        return dist

    return build


def measure_shape(raw: np.ndarray) -> dict:
    samples = raw.tolist()
    new, new_bytes = held_bytes(filled(Distribution, samples))
    old, old_bytes = held_bytes(filled(ExactDict, samples))
    _, array_bytes = held_bytes(lambda: np.array(samples, np.float64))
    got = new.percentiles(QS)
    want = np.percentile(raw, QS)
    errors = {q: abs(got[q] / w - 1) for q, w in zip(QS, want, strict=True)}
    return {
        "samples": len(samples), "buckets": new.buckets, "exact_dict_keys": len(old.counts),
        "bytes": {"log_buckets": new_bytes, "exact_dict": old_bytes, "numpy_float64": array_bytes},
        "msgpack_bytes": {"log_buckets": len(msgpack.packb(new.to_dict())),
                          "exact_dict": len(msgpack.packb(old.to_dict()))},
        "worst_error_pct": round(max(errors.values()) * 100, 5),
        "error_pct": {f"p{q}": round(e * 100, 5) for q, e in errors.items()},
        "mean_rel_error": abs(new.mean / float(np.mean(raw)) - 1),
    }


def ns_per_add(cls: type, samples: list[float], repeat: int) -> float:
    """Best of ``repeat`` runs of one add() per sample, in ns per call (loop included)."""
    dist = cls()
    add = dist.add

    def run() -> None:
        for s in samples:
            add(s)

    return min(timeit.repeat(run, number=1, repeat=repeat)) / len(samples) * 1e9


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr, exit code 2 (no usage dump)."""

    def error(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000_000, help="samples a shape (default 10000000)")
    parser.add_argument("--repeat", type=int, default=7, help="timing runs of the add() test, best kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("samples", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} {getattr(args, name)}: accepted values are integers >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = {}
    for name, raw in shapes(args.samples, args.seed).items():
        results[name] = measure_shape(raw)
        r = results[name]
        mib = {k: f"{v / 2**20:,.2f} MiB" for k, v in r["bytes"].items()}
        print(f"{name}: held {mib}; msgpack {r['msgpack_bytes']}; buckets {r['buckets']} "
              f"(exact dict keys {r['exact_dict_keys']:,}); worst percentile error {r['worst_error_pct']} %")
    speed = {}
    for name, raw in shapes(min(args.samples, ADDS), args.seed + 1).items():
        timing = raw.tolist()
        speed[name] = {"log_buckets": round(ns_per_add(Distribution, timing, args.repeat), 1),
                       "exact_dict": round(ns_per_add(ExactDict, timing, args.repeat), 1)}
        print(f"ns per add, {name}: {speed[name]['log_buckets']:.0f} "
              f"(exact dict baseline: {speed[name]['exact_dict']:.0f})")
    worst = max(r["worst_error_pct"] for r in results.values())
    print(json.dumps({"shapes": results, "ns_per_add": speed, "worst_error_pct": worst}))
    return 0 if worst <= BOUND * 100 else 1


if __name__ == "__main__":
    sys.exit(main())
