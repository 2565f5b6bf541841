"""How fast the payload factory builds exact-length prompts, and proof that every one is exact.

1. `--count` prompts at lengths spread uniformly over 1..`--max-len` (1, 2 and max-len included), built
   and timed, then each re-encoded with the real tokenizer (and a sample checked against the real chat
   template) outside the timed part.
2. Prompts per second at `--rate-len` tokens, for the default (splice) factory and, as the baseline in
   the same run, the strict factory that re-encodes every whole prompt.

    .venv/bin/python bench/bench_payloads.py                      # 10,000 prompts over 1..8192, rate at 1,024
    .venv/bin/python bench/bench_payloads.py --count 500 --rate-count 500

Exit status: 0 all exact, 1 a prompt was not exact, 2 bad arguments or tokenizer.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from payloads.errors import PayloadError  # noqa: E402 - after the path set-up above
from payloads.prompts import PromptFactory, real_overhead  # noqa: E402
from payloads.tokenizer import load_tokenizer  # noqa: E402

CHECK_BATCH = 256
OVERHEAD_SAMPLE = 300


def spread(count: int, top: int, seed: int) -> list[int]:
    """`count` lengths uniform over 1..top, with 1, 2 and top always in."""
    rng = random.Random(seed)
    fixed = [n for n in (1, 2, top) if n <= top][:count]
    return fixed + [rng.randint(1, top) for _ in range(count - len(fixed))]


def build_and_check(tok: object, factory: PromptFactory, lengths: list[int]) -> dict:
    """Build the prompts (timed), then re-encode every one with the real tokenizer."""
    started = time.perf_counter()
    prompts = [factory.make(n) for n in lengths]
    seconds = time.perf_counter() - started
    wrong = 0
    for at in range(0, len(prompts), CHECK_BATCH):
        chunk = prompts[at: at + CHECK_BATCH]
        encoded = tok([p.text for p in chunk], add_special_tokens=False)["input_ids"]
        wrong += sum(len(ids) != p.tokens_requested or p.tokens_made != p.tokens_requested
                     for ids, p in zip(encoded, chunk, strict=True))
    sample = random.Random(0).sample(prompts, min(OVERHEAD_SAMPLE, len(prompts)))
    overhead_wrong = sum(p.template_overhead != real_overhead(tok, p.text) for p in sample)
    return {
        "prompts": len(prompts), "tokens": sum(lengths), "build_seconds": round(seconds, 3),
        "prompts_per_second": round(len(prompts) / seconds, 1),
        "tokens_per_second": round(sum(lengths) / seconds), "not_exact": wrong,
        "overhead_checked": len(sample), "overhead_wrong": overhead_wrong,
    }


def rate(factory: PromptFactory, length: int, count: int) -> float:
    """Prompts per second at one length."""
    started = time.perf_counter()
    for _ in range(count):
        factory.make(length)
    return count / (time.perf_counter() - started)


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr, exit code 2 (no usage dump)."""

    def error(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="prompts in the spread (default 10000)")
    parser.add_argument("--max-len", type=int, default=8192, help="longest prompt in the spread")
    parser.add_argument("--rate-len", type=int, default=1024, help="prompt length of the rate test")
    parser.add_argument("--rate-count", type=int, default=5_000, help="prompts in the rate test")
    parser.add_argument("--baseline-count", type=int, default=300, help="prompts in the strict baseline")
    parser.add_argument("--tokenizer", default=None, help="HF name or local folder (default: shipped Qwen3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("count", "max_len", "rate_len", "rate_count", "baseline_count"):
        value = getattr(args, name)
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} {value}: accepted values are integers >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        tok = load_tokenizer(args.tokenizer)
    except PayloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    factory = PromptFactory(tok, seed=args.seed)
    print(f"factory mode: {factory.mode} ({factory.mode_reason})")
    spread_result = build_and_check(tok, factory, spread(args.count, args.max_len, args.seed))
    print(f"spread 1..{args.max_len}: {spread_result}")
    print(f"factory stats: {factory.stats}")
    length, seed = args.rate_len, args.seed + 1
    splice_rate = rate(PromptFactory(tok, seed=seed), length, args.rate_count)
    strict_rate = rate(PromptFactory(tok, seed=seed, strict=True), length, args.baseline_count)
    print(f"at {length} tokens: {splice_rate:,.0f} prompts/s (strict baseline: {strict_rate:,.0f}/s)")
    summary = {
        **spread_result, "mode": factory.mode, "rate_len": length,
        "rate_prompts_per_second": round(splice_rate, 1), "strict_prompts_per_second": round(strict_rate, 1),
    }
    print(json.dumps(summary))
    return 1 if spread_result["not_exact"] or spread_result["overhead_wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
