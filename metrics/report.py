"""The LLM summary: a dict with ``vllm bench serve --save-result`` keys, a console table, a JSON file.

A latency with no sample (TTFT, TPOT and ITL of a non-streamed run, every latency of a run
whose requests all failed) is ``null`` in the JSON and ``n/a`` in the table: a ``0.00`` read
as a measured, impossibly fast answer.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from metrics.batch import format_lines as batch_lines
from metrics.collector import LATENCIES, SERVER_SIDE, ClassMetrics, LlmMetrics
from metrics.prompt_check import images_ignored, text_reference
from reports.goodput import goodput_fields

LABELS = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2el": "E2E latency", "ttfo": "TTFO (answer)",
          "server_prefill": "Server prefill", "ttft_minus_server_prefill": "TTFT - server",
          "server_itl": "Server ITL"}
STATS = ("mean", "median", "std", "p90", "p95", "p99")
"""The columns of the console table's latency rows."""
CURVE_QS = (0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9)
"""The percentiles of ``latency_percentiles`` (the HTML report's latency curves)."""


def summarize_class(m: ClassMetrics, duration: float | None = None, reference: int | None = None,
                    cancelled: frozenset[str] = frozenset(), goodput: bool = False) -> dict:
    """One class's (or the overall) summary; ``duration`` defaults to its own wall span.

    ``reference`` is what the server adds to a planned text prompt (see
    :func:`metrics.prompt_check.text_reference`); by default this class's own text requests'.
    ``cancelled``: the failure reasons of requests the stop cancelled (``cancelled_by_stop``;
    not judged for goodput). ``goodput``: requests were judged, add the goodput figures.
    """
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
        "resent": m.resent,
        "total_images": m.images,
        "images_per_s": per_s(m.images),
        "total_image_pixels": m.image_pixels,
        "image_pixels_per_s": per_s(m.image_pixels),
        "total_image_bytes": m.image_bytes,
        "image_bytes_per_s": per_s(m.image_bytes),
        "cancelled_by_stop": sum(n for reason, n in m.failures.items() if reason in cancelled),
    }
    if goodput:
        out.update(goodput_fields(m.good, m.completed + m.failed - out["cancelled_by_stop"], duration))
    out.update(_prompt_check(m, text_reference(m.prompt_deltas) if reference is None else reference))
    for name in LATENCIES:
        dist = m.dists[name]
        for stat, value in dist.summary_ms().items():
            out[f"{stat}_{name}_ms"] = value if dist.n else None
        out[f"count_{name}"] = dist.n
    out.update(_server_side(m))
    queue = m.dists["queue"]
    if queue.n:  # open-loop load: how long arrivals waited for a free user (vLLM's client queue time)
        out.update({f"{stat}_queue_ms": value for stat, value in queue.summary_ms().items()})
    if len(m.ttft_by_turn) > 1:
        out["mean_ttft_ms_by_turn"] = {t: d.mean * 1e3 for t, d in sorted(m.ttft_by_turn.items())}
    return out


def _server_side(m: ClassMetrics) -> dict:
    """Reasoning apart from the answer, and the server's own timings beside the client's.

    ``ttfo``: time to the first answer token (content or tool call), after any reasoning; TTFT
    stays the first token of any kind. ``server_prefill`` and ``server_itl``: what the server
    says it took (MindIE's ``prefill_time`` and ``decode_time_arr``, per token);
    ``ttft_minus_server_prefill``: client TTFT minus the server's, per request (network,
    queueing before the server's clock starts). Each is ``null`` without a sample.
    """
    out: dict = {
        "total_reasoning_tokens": m.reasoning_tokens,
        "total_answer_tokens": m.output_tokens - m.reasoning_tokens,
        "reasoning_tokens_source": dict(m.reasoning_sources),
    }
    for name in SERVER_SIDE:
        dist = m.dists[name]
        for stat, value in dist.summary_ms().items():
            out[f"{stat}_{name}_ms"] = value if dist.n else None
        out[f"count_{name}"] = dist.n
    if m.full_text_checked:
        out["full_text_checked"] = m.full_text_checked
        out["full_text_differs"] = m.full_text_differs
    return out


def _prompt_check(m: ClassMetrics, reference: int) -> dict:
    """How the server's prompt counts compared with the plan (:mod:`metrics.prompt_check`)."""
    differ = sum(n for delta, n in m.prompt_deltas.items() if delta)
    return {
        "prompt_tokens_checked": sum(m.prompt_deltas.values()),
        "prompt_tokens_differ": differ,
        "prompt_tokens_example": m.prompt_example,
        "image_requests_checked": sum(m.image_prompt_deltas.values()),
        "images_ignored": images_ignored(m.image_prompt_deltas, reference),
    }


def summarize(metrics: LlmMetrics, cancelled: frozenset[str] = frozenset()) -> dict:
    """The overall summary with vLLM's keys at the top level, plus ``per_class``.

    ``cancelled``: the failure reasons that mean the stop cancelled the request."""
    overall = metrics.overall()
    reference = text_reference(overall.prompt_deltas)
    judged = metrics.goodput is not None
    summary = summarize_class(overall, reference=reference, cancelled=cancelled, goodput=judged)
    duration = summary["duration"]
    summary["per_class"] = {name: summarize_class(m, duration, reference, cancelled, judged)
                            for name, m in sorted(metrics.classes.items())}
    if metrics.goodput is not None:
        summary["goodput"] = metrics.goodput.to_json()
        if metrics.unjudged:
            summary["goodput_unjudged"] = metrics.unjudged
    summary["time_series"] = time_series(metrics)
    summary["latency_percentiles"] = latency_percentiles(metrics, overall)
    if metrics.batch.batches:
        summary.update(metrics.batch.summary())
    return summary


def time_series(metrics: LlmMetrics) -> dict:
    """Second by second (wall-clock ``t``): requests and failures that ended, output tokens that
    arrived, requests in flight, TTFT, ITL and TPOT p50/p95 of the requests that ended; per class too."""
    series = metrics.series
    return {"step_s": 1, "all": series.rows(),
            "per_class": {name: series.rows(name) for name in sorted(metrics.classes)}}


def latency_percentiles(metrics: LlmMetrics, overall: ClassMetrics) -> dict:
    """TTFT, TPOT, ITL and E2E latency in ms at each of :data:`CURVE_QS`, overall and per class
    (a latency with no sample: an empty list)."""
    def curves(m: ClassMetrics) -> dict[str, list[float]]:
        out = {}
        for name in LATENCIES:
            dist = m.dists[name]
            out[name] = [v * 1e3 for v in dist.percentiles(CURVE_QS).values()] if dist.n else []
        return out

    return {"q": list(CURVE_QS), "all": curves(overall),
            "per_class": {name: curves(m) for name, m in sorted(metrics.classes.items())}}


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
    if "request_goodput" in summary:
        share = summary["goodput_share"]
        lines += [f"{'Request goodput (req/s):':<40}{summary['request_goodput']:>12.2f}",
                  f"{'Goodput share (' + _bounds(summary['goodput']) + '):':<40}"
                  f"{'n/a' if share is None else format(share, '.1%'):>12}"]
    header = f"{'metric (ms)':<18}{'class':<12}" + "".join(f"{c:>10}" for c in STATS) + f"{'n':>9}"
    lines += ["-" * 74, header]
    for name in LATENCIES:
        for cls, s in classes.items():
            cells = "".join(_cell(s[f"{stat}_{name}_ms"]) for stat in STATS)
            lines.append(f"{LABELS[name]:<18}{cls:<12}{cells}{s[f'count_{name}']:>9}")
    lines += _server_side_lines(classes)
    by_turn = summary.get("mean_ttft_ms_by_turn")
    if by_turn:
        turns = ", ".join(f"turn {t}: {v:.2f}" for t, v in by_turn.items())
        lines.append(f"Mean TTFT by conversation turn (ms): {turns}")
    if summary["retries"]:
        lines.append(f"{'Retried attempts (429/503):':<40}{summary['retries']:>12}")
    if summary.get("resent"):
        lines.append(f"{'Resent on a fresh connection:':<40}{summary['resent']:>12}")
    lines += _prompt_lines(summary)
    if summary["failures"]:
        lines += ["-" * 74, "Failures:"]
        lines += [f"  {count:>8}  {reason}" for reason, count in summary["failures"].items()]
    lines += batch_lines(summary)
    lines.append("=" * 74)
    return "\n".join(lines)


def _server_side_lines(classes: dict[str, dict]) -> list[str]:
    """TTFO rows when reasoning arrived, server-timing rows when a server sent them, and the
    reasoning-token count."""
    lines = []
    shown = [name for name in SERVER_SIDE
             if any(s.get(f"count_{name}") for s in classes.values())
             and (name != "ttfo" or any(s.get("total_reasoning_tokens") for s in classes.values()))]
    for name in shown:
        for cls, s in classes.items():
            cells = "".join(_cell(s[f"{stat}_{name}_ms"]) for stat in STATS)
            lines.append(f"{LABELS[name]:<18}{cls:<12}{cells}{s[f'count_{name}']:>9}")
    total = next(iter(classes.values()))
    if total.get("total_reasoning_tokens"):
        lines.append(f"{'Reasoning tokens (of output):':<40}{total['total_reasoning_tokens']:>12} "
                     f"({_sources(total['reasoning_tokens_source'])})")
    if total.get("full_text_differs"):
        lines.append(f"full_text differed from the streamed deltas in {total['full_text_differs']} of "
                     f"{total['full_text_checked']} requests")
    return lines


def _cell(value: float | None) -> str:
    return f"{'n/a':>10}" if value is None else f"{value:>10.2f}"


def _prompt_lines(summary: dict) -> list[str]:
    """The prompt-count checks, when they found something."""
    lines = []
    differ = summary.get("prompt_tokens_differ")
    if differ:
        planned, server = summary["prompt_tokens_example"]
        lines.append(
            f"Prompt tokens: the server's count differs from the plan in {differ} of "
            f"{summary['prompt_tokens_checked']} text requests (e.g. {server} vs {planned} planned); input "
            "tokens are the server's. Pass --tokenizer with the server's model to plan as it counts."
        )
    per_class = summary.get("per_class", {}) or {"all": summary}
    ignored = [f"{name} {s['images_ignored']} of {s['image_requests_checked']}"
               for name, s in per_class.items() if s.get("images_ignored")]
    if ignored:
        lines.append("Server ignored the images (prompt tokens not above the text alone): "
                     + ", ".join(ignored))
    return lines


def _bounds(bounds: dict) -> str:
    return " ".join(f"{name}<={ms:g}ms" for name, ms in bounds.items())


def _sources(sources: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(sources.items())) or "-"
