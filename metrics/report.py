"""The LLM summary: a dict with ``vllm bench serve --save-result`` keys, a console table, a JSON file."""

from __future__ import annotations

from pathlib import Path

import orjson

from metrics.collector import LATENCIES, ClassMetrics, LlmMetrics

LABELS = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2el": "E2E latency"}


def summarize_class(m: ClassMetrics, duration: float | None = None) -> dict:
    """One class's (or the overall) summary; ``duration`` defaults to its own wall span."""
    if duration is None:
        duration = max(m.wall_last - m.wall_first, 0.0)
    per_s = (lambda x: x / duration) if duration > 0 else (lambda x: 0.0)
    out: dict = {
        "completed": m.completed,
        "failed": m.failed,
        "duration": duration,
        "request_throughput": per_s(m.completed),
        "output_throughput": per_s(m.output_tokens),
        "total_token_throughput": per_s(m.input_tokens + m.output_tokens),
        "total_input_tokens": m.input_tokens,
        "total_output_tokens": m.output_tokens,
        "request_bytes_per_s": per_s(m.request_bytes),
        "response_bytes_per_s": per_s(m.response_bytes),
        "output_tokens_source": dict(m.token_sources),
        "failures": dict(m.failures.most_common()),
        "retries": sum(m.retries.values()),
        "retried": dict(m.retries.most_common()),
    }
    for name in LATENCIES:
        dist = m.dists[name]
        for stat, value in dist.summary_ms().items():
            out[f"{stat}_{name}_ms"] = value
        out[f"count_{name}"] = dist.n
    if len(m.ttft_by_turn) > 1:
        out["mean_ttft_ms_by_turn"] = {t: d.mean * 1e3 for t, d in sorted(m.ttft_by_turn.items())}
    return out


def summarize(metrics: LlmMetrics) -> dict:
    """The overall summary with vLLM's keys at the top level, plus ``per_class``."""
    overall = metrics.overall()
    summary = summarize_class(overall)
    duration = summary["duration"]
    summary["per_class"] = {name: summarize_class(m, duration) for name, m in sorted(metrics.classes.items())}
    return summary


def write_json(summary: dict, path: str | Path) -> None:
    """Write the summary as indented JSON, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))


def format_table(summary: dict) -> str:
    """A readable console table: counts and throughput, then latency rows per class."""
    classes = {"all": summary, **summary.get("per_class", {})}
    if len(classes) == 2:
        classes = {"all": summary}
    lines = ["", "=" * 26 + " LLM benchmark result " + "=" * 26]
    lines += [
        f"{'Successful requests:':<40}{summary['completed']:>12}",
        f"{'Failed requests:':<40}{summary['failed']:>12}",
        f"{'Duration (s):':<40}{summary['duration']:>12.2f}",
        f"{'Total input tokens:':<40}{summary['total_input_tokens']:>12}",
        f"{'Total output tokens:':<40}{summary['total_output_tokens']:>12}",
        f"{'Request throughput (req/s):':<40}{summary['request_throughput']:>12.2f}",
        f"{'Output token throughput (tok/s):':<40}{summary['output_throughput']:>12.2f}",
        f"{'Total token throughput (tok/s):':<40}{summary['total_token_throughput']:>12.2f}",
        f"{'Request bytes/s:':<40}{summary['request_bytes_per_s']:>12.0f}",
        f"{'Output tokens counted from:':<40}{_sources(summary['output_tokens_source']):>12}",
    ]
    header = f"{'metric (ms)':<18}{'class':<12}" + "".join(
        f"{c:>10}" for c in ("mean", "median", "std", "p90", "p95", "p99")
    ) + f"{'n':>9}"
    lines += ["-" * 74, header]
    for name in LATENCIES:
        for cls, s in classes.items():
            row = [s[f"{stat}_{name}_ms"] for stat in ("mean", "median", "std", "p90", "p95", "p99")]
            lines.append(f"{LABELS[name]:<18}{cls:<12}" + "".join(f"{v:>10.2f}" for v in row)
                         + f"{s[f'count_{name}']:>9}")
    by_turn = summary.get("mean_ttft_ms_by_turn")
    if by_turn:
        turns = ", ".join(f"turn {t}: {v:.2f}" for t, v in by_turn.items())
        lines.append(f"Mean TTFT by conversation turn (ms): {turns}")
    if summary["retries"]:
        lines.append(f"{'Retried attempts (429/503):':<40}{summary['retries']:>12}")
    if summary["failures"]:
        lines += ["-" * 74, "Failures:"]
        lines += [f"  {count:>8}  {reason}" for reason, count in summary["failures"].items()]
    lines.append("=" * 74)
    return "\n".join(lines)


def _sources(sources: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(sources.items())) or "-"
