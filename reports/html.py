"""The LLM section of the HTML report, from the summary alone (pure: no Locust, no collector).

:func:`llm_section` returns one ``<section>`` (its own scoped style, inline SVG charts, a small
hover script) that :func:`inject` puts into Locust's ``--html`` report after Locust's own
content, so there is one file with one look; :func:`standalone` wraps it as a page of its own.
The section shows the summary table per class (with reasoning tokens when reasoning arrived),
the latency statistics (with TTFO and the server's own timings when the run has them), the
SLOs, goodput and failures, TTFT / TPOT / ITL / E2E latency by percentile per class, and second
by second: TTFT p50/p95, output tokens/s, requests and failures, requests in flight, and for
classes that send images, images and request bytes per second (and per request in a table).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from reports.slo import format_value
from reports.svg import HOVER_SCRIPT, PALETTE, Line, line_chart

LATENCIES = (("ttft", "TTFT"), ("tpot", "TPOT"), ("itl", "ITL"), ("e2el", "E2E latency"))
SERVER_SIDE = (("ttfo", "TTFO (answer)"), ("server_prefill", "Server prefill"), ("server_itl", "Server ITL"),
               ("ttft_minus_server_prefill", "TTFT &minus; server prefill"))
"""Rows after :data:`LATENCIES`, each only when the run has it (as the console table shows them):
TTFO, the first answer token after any reasoning, when reasoning arrived (without it TTFO is
TTFT); the server's own prefill and gaps between tokens, and client TTFT minus that prefill,
when a server sent its timings (MindIE's ``prefill_time`` and ``decode_time_arr``)."""
STATS = ("mean", "median", "std", "p90", "p95", "p99", "max")
ALL = "all"
TIME_NOTE = ("A request, a failure, its images and bytes count in the second the request ended, with its "
             "TTFT and ITL; output tokens count in the second they arrived; requests in flight are sampled "
             "once a second.")

STYLE = """
.llm{max-width:1200px;margin:0 auto 32px;padding:0 24px;box-sizing:border-box;
 font-family:Roboto,Helvetica,Arial,sans-serif;color:rgba(0,0,0,.87);letter-spacing:.00938em}
.llm h2{font-size:2.125rem;font-weight:400;line-height:1.235;letter-spacing:.00735em;margin:32px 0 8px}
.llm h3{font-size:1.17em;font-weight:700;margin:24px 0 8px}
.llm .llm-meta{margin:8px 0 16px}.llm .llm-meta b{font-weight:600}
.llm .llm-paper{background:#fff;border-radius:4px;overflow-x:auto;box-shadow:0 2px 1px -1px rgba(0,0,0,.2),
 0 1px 1px 0 rgba(0,0,0,.14),0 1px 3px 0 rgba(0,0,0,.12)}
.llm table{border-collapse:collapse;width:100%;font-size:.875rem;letter-spacing:.01071em}
.llm th,.llm td{padding:12px 16px;border-bottom:1px solid #e0e0e0;text-align:left;white-space:nowrap}
.llm th{font-weight:500;white-space:normal;vertical-align:bottom}
.llm td.num,.llm th.num{text-align:right;font-variant-numeric:tabular-nums}
.llm tr.llm-total td{font-weight:500}
.llm .llm-ok{color:#1b5e20;background:#e8f5e9;border-radius:12px;padding:2px 10px;font-weight:500}
.llm .llm-bad{color:#b71c1c;background:#ffebee;border-radius:12px;padding:2px 10px;font-weight:500}
.llm .llm-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px 24px}
.llm svg.llm-chart{width:100%;height:auto;display:block}
.llm .llm-chart-title{font-size:16px;font-weight:700;fill:#333}
.llm .llm-legend{font-size:12px;fill:#333}.llm .llm-axis{font-size:11px;fill:#6e7079}
.llm .llm-grid line,.llm line.llm-grid{stroke:#e0e6f1;stroke-dasharray:4 3}
.llm line.llm-axis-line{stroke:#6e7079}
.llm .llm-note{color:rgba(0,0,0,.6);font-size:.875rem;margin:8px 0 0}
.llm-tip{position:absolute;display:none;z-index:10;background:#fff;border:1px solid #ccc;border-radius:4px;
 padding:6px 10px;font:12px/1.5 Roboto,Helvetica,Arial,sans-serif;box-shadow:0 2px 6px rgba(0,0,0,.2);
 pointer-events:none;white-space:nowrap}
"""


def _num(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1,
           total_last: bool = False) -> str:
    """A table in the look of Locust's (MUI) tables; cells are HTML already escaped."""
    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(f'<{tag}{" class=num" if i >= numeric_from else ""}>{v}</{tag}>'
                       for i, v in enumerate(values))
    body = "".join(
        f'<tr{" class=llm-total" if total_last and i == len(rows) - 1 else ""}>{cells("td", row)}</tr>'
        for i, row in enumerate(rows))
    return (f'<div class="llm-paper"><table><thead><tr>{cells("th", header)}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _classes(summary: dict) -> dict[str, dict]:
    """Each class's summary, and the overall one last (alone when there is one class)."""
    per_class = summary.get("per_class") or {}
    if len(per_class) <= 1:
        return {ALL: summary}
    return {**per_class, ALL: summary}


def _meta(summary: dict) -> str:
    items = [("Model", summary.get("model") or "n/a"), ("Target", summary.get("target") or "n/a"),
             ("Duration", f"{summary['duration']:.1f} s"), ("Seed", summary.get("seed"))]
    if summary.get("goodput"):
        bounds = " ".join(f"{k} &le; {v:g} ms" for k, v in summary["goodput"].items())
        items.append(("Goodput bounds", bounds))
    items.append(("Output tokens counted from", _sources(summary.get("output_tokens_source")) or "n/a"))
    if summary.get("total_reasoning_tokens"):
        items.append(("Reasoning tokens counted from", _sources(summary.get("reasoning_tokens_source"))))
    return '<div class="llm-meta">' + "".join(
        f"<div><b>{escape(str(k))}:</b> {v if k == 'Goodput bounds' else escape(str(v))}</div>"
        for k, v in items) + "</div>"


def _sources(sources: dict | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((sources or {}).items()))


def summary_table(summary: dict) -> str:
    """Per class: counts, throughput, the main latencies and goodput (the console table's figures);
    reasoning tokens of the output tokens, when reasoning arrived."""
    goodput = "goodput_share" in summary
    reasoning = bool(summary.get("total_reasoning_tokens"))
    header = ["Class", "# Requests", "# Fails", "Req/s", "Output tok/s", "TTFT mean (ms)", "TTFT p95 (ms)",
              "TPOT mean (ms)", "ITL p95 (ms)", "E2E p95 (ms)"]
    if reasoning:
        header[5:5] = ["Output tokens", "Reasoning tokens"]
    if goodput:
        header += ["Goodput (req/s)", "Goodput share"]
    rows = []
    for name, s in _classes(summary).items():
        row = [escape("Aggregated" if name == ALL else name), _num(s["completed"] + s["failed"]),
               _num(s["failed"]), _num(s["request_throughput"]), _num(s["output_throughput"], 1)]
        if reasoning:
            row += [_num(s["total_output_tokens"]), _num(s.get("total_reasoning_tokens") or 0)]
        row += [_num(s["mean_ttft_ms"]), _num(s["p95_ttft_ms"]), _num(s["mean_tpot_ms"]),
                _num(s["p95_itl_ms"]), _num(s["p95_e2el_ms"], 1)]
        if goodput:
            share = s.get("goodput_share")
            row += [_num(s.get("request_goodput")), "n/a" if share is None else f"{share:.1%}"]
        rows.append(row)
    return _table(header, rows, total_last=True)


def shown_latencies(summary: dict) -> list[tuple[str, str]]:
    """:data:`LATENCIES`, then those of :data:`SERVER_SIDE` this run has, as (key, label)."""
    classes = _classes(summary).values()
    reasoned = any(s.get("total_reasoning_tokens") for s in classes)
    extra = [(key, label) for key, label in SERVER_SIDE
             if any(s.get(f"count_{key}") for s in classes) and (key != "ttfo" or reasoned)]
    return [*LATENCIES, *extra]


def latency_table(summary: dict) -> str:
    header = ["Metric (ms)", "Class", *STATS, "Samples"]
    rows = []
    for key, label in shown_latencies(summary):
        for name, s in _classes(summary).items():
            rows.append([label, escape(name), *(_num(s.get(f"{stat}_{key}_ms")) for stat in STATS),
                         _num(s.get(f"count_{key}"))])
    return _table(header, rows, numeric_from=2)


def slo_table(summary: dict) -> str:
    rows = []
    for slo in summary.get("slos") or []:
        name = slo["name"]
        limit = f"{slo['max']:g}" + ("" if name == "error_rate" else " ms")
        status = '<span class="llm-ok">met</span>' if slo["met"] else '<span class="llm-bad">breached</span>'
        rows.append([escape(name), limit, format_value(name, slo["measured"]), status])
    return _table(["SLO", "Max", "Measured", "Status"], rows)


def failures_table(summary: dict) -> str:
    rows = [[escape(reason), _num(count)] for reason, count in (summary.get("failures") or {}).items()]
    rows += [[escape(f"retried (sent again, not a failure): {reason}"), _num(count)]
             for reason, count in (summary.get("retried") or {}).items()]
    return _table(["Reason (grouped)", "Count"], rows)


def _curves(summary: dict) -> dict[str, dict[str, list]]:
    """Class -> latency -> [(percentile, ms)] from the summary's ``latency_percentiles``."""
    table = summary.get("latency_percentiles") or {}
    qs = table.get("q") or []
    chosen = table.get("per_class") or {}
    if len(chosen) <= 1:
        chosen = {ALL: table.get("all") or {}}
    return {name: {key: list(zip(qs, values, strict=False)) for key, values in lat.items()}
            for name, lat in chosen.items()}


def distribution_charts(summary: dict) -> list[str]:
    curves = _curves(summary)
    charts = []
    for key, label in LATENCIES:
        lines = [Line(name, points.get(key, [])) for name, points in curves.items()]
        charts.append(line_chart(f"{label} by percentile", lines, x_kind="percentile", unit="ms"))
    return charts


def _series(summary: dict) -> tuple[dict[str, list[dict]], float]:
    """Class -> rows (one class alone: the overall rows), and the run's first second."""
    ts = summary.get("time_series") or {}
    per_class = ts.get("per_class") or {}
    chosen = per_class if len(per_class) > 1 else {ALL: ts.get("all") or []}
    starts = [rows[0]["t"] for rows in chosen.values() if rows]
    return chosen, float(min(starts, default=0))


def _filled(rows: list[dict], t0: float, t_end: float, value: Callable[[dict], float | None],
            rate: bool) -> list[tuple[float, float | None]]:
    """One point per second from ``t0`` to ``t_end``: a second without a row is 0 for a rate, a gap
    for a percentile."""
    by_t = {row["t"]: row for row in rows}
    out = []
    for t in range(int(t0), int(t_end) + 1):
        row = by_t.get(t)
        out.append((t - t0, value(row) if row is not None else (0.0 if rate else None)))
    return out


def time_charts(summary: dict) -> list[str]:
    series, t0 = _series(summary)
    t_end = max((rows[-1]["t"] for rows in series.values() if rows), default=t0)

    def lines(get: Callable[[dict], float | None], rate: bool, dashed_get=None,
              suffix=("", "")) -> list[Line]:
        out = []
        for name, rows in series.items():
            out.append(Line(name + suffix[0], _filled(rows, t0, t_end, get, rate), legend=name))
            if dashed_get is not None:
                out.append(Line(name + suffix[1], _filled(rows, t0, t_end, dashed_get, rate), dashed=True,
                                legend=None))
        return _pair_colors(out) if dashed_get is not None else out

    return [
        line_chart("TTFT over time (p50, p95 dashed)", lines(lambda r: r["ttft_p50_ms"], False,
                   lambda r: r["ttft_p95_ms"], (" p50", " p95")), unit="ms"),
        line_chart("Output tokens per second", lines(lambda r: r["output_tokens"], True), unit="tok/s"),
        line_chart("Requests per second (failures dashed)", lines(lambda r: r["requests"], True,
                   lambda r: r["failures"], ("", " failures")), unit="req/s"),
        line_chart("Requests in flight", lines(lambda r: r["in_flight"], True), unit="requests"),
        line_chart("ITL over time (p50, p95 dashed)", lines(lambda r: r["itl_p50_ms"], False,
                   lambda r: r["itl_p95_ms"], (" p50", " p95")), unit="ms"),
    ]


def _pair_colors(lines: list[Line]) -> list[Line]:
    """A solid line and its dashed partner share a colour."""
    out = []
    for i, ln in enumerate(lines):
        color = PALETTE[(i // 2) % len(PALETTE)]
        out.append(Line(ln.name, ln.points, ln.dashed, color, ln.legend))
    return out


def image_classes(summary: dict) -> dict[str, dict]:
    per_class = summary.get("per_class") or {}
    return {name: s for name, s in per_class.items() if s.get("total_images")}


def image_table(summary: dict) -> str:
    rows = []
    for name, s in image_classes(summary).items():
        requests = s["completed"] + s["failed"]
        def per_request(x: float, requests: int = requests) -> float | None:
            return x / requests if requests else None

        pixels, image_bytes = s.get("total_image_pixels") or 0, s.get("total_image_bytes") or 0
        rows.append([escape(name), _num(s["total_images"]), _num(per_request(s["total_images"])),
                     _num(s.get("images_per_s")),
                     _num(per_request(pixels / 1e6), 2) if pixels else "n/a",
                     _num(s.get("image_pixels_per_s", 0) / 1e6, 2) if pixels else "n/a",
                     _num(per_request(image_bytes / 1024), 1) if image_bytes else "n/a",
                     _num(s.get("image_bytes_per_s", 0) / 1e6, 3) if image_bytes else "n/a",
                     _num(per_request(s["request_bytes_per_s"] * s["duration"] / 1024), 1),
                     _num(s["request_bytes_per_s"] / 1e6, 3)])
    return _table(["Class", "Images", "Images per request", "Images/s", "Megapixels per request",
                   "Megapixels/s", "Image KB per request", "Image MB/s", "Request KB per request",
                   "Request MB/s"], rows)


def image_charts(summary: dict) -> list[str]:
    chosen = image_classes(summary)
    ts = (summary.get("time_series") or {}).get("per_class") or {}
    _, t0 = _series(summary)
    rows_by = {name: ts.get(name, []) for name in chosen}
    t_end = max((rows[-1]["t"] for rows in rows_by.values() if rows), default=t0)
    images = [Line(name, _filled(rows, t0, t_end, lambda r: r["images"], True))
              for name, rows in rows_by.items()]
    sent = [Line(name, _filled(rows, t0, t_end, lambda r: r["request_bytes"] / 1e6, True))
            for name, rows in rows_by.items()]
    return [line_chart("Images sent per second", images, unit="images/s"),
            line_chart("Request bytes per second", sent, unit="MB/s")]


SERVER_GAUGES = (("running", "requests running"), ("waiting", "requests waiting"))


def server_section(summary: dict) -> list[str]:
    """The server's own figures beside the client's (``--server-metrics``), when it had any."""
    block = summary.get("server_metrics") or {}
    if not block.get("available"):
        reason = block.get("reason")
        return [] if reason is None else ["<h2>Server metrics</h2>",
                                          f'<p class="llm-note">Not available: {escape(str(reason))}</p>']
    parts = ["<h2>Server metrics</h2>"]
    rows = _server_rows(block)
    if rows:
        parts.append(_table(["Figure", "Server metric", "Server mean", "p50", "p90", "p99", "Client mean",
                             "p50", "p90", "p99"], rows, numeric_from=2))
    charts = _server_charts(block, summary)
    if charts:
        parts.append(_grid(charts))
    return parts


def _server_rows(block: dict) -> list[list[str]]:
    """Latency percentiles (ms) and token rates: the server's beside the client's."""
    rows = []
    for figure, side in (block.get("vs_client") or {}).items():
        server, client = side.get("server"), side.get("client")
        if isinstance(server, dict):
            stats = ("mean", "p50", "p90", "p99")
            rows.append([escape(figure), escape(side["server_metric"]), *(_num(server.get(k)) for k in stats),
                         *(_num((client or {}).get(k)) for k in stats)])
        else:
            rows.append([escape(figure), escape(side["server_metric"]), _num(server, 1), "", "", "",
                         _num(client, 1), "", "", ""])
    return rows


def _server_charts(block: dict, summary: dict) -> list[str]:
    """The server's gauges and rates over time, on the client's timeline, beside its own."""
    common = block.get("common") or {}
    _, t0 = _series(summary)
    client = (summary.get("time_series") or {}).get("all") or []

    def own(key: str) -> list[tuple[float, float | None]]:
        return [(r["t"] - t0, r[key]) for r in client]

    def metric(name: str) -> dict:
        return block.get(common.get(name, "")) or {}

    charts = []
    gauges = [Line(f"server: {label}", [(t - t0, v) for t, v in metric(name)["series"]])
              for name, label in SERVER_GAUGES if metric(name).get("series")]
    if gauges:
        gauges.append(Line("client: in flight", own("in_flight"), dashed=True))
        charts.append(line_chart("Requests: server and client", gauges, unit="requests"))
    if metric("kv_cache_usage").get("series"):
        usage = [(t - t0, v * 100) for t, v in metric("kv_cache_usage")["series"]]
        charts.append(line_chart("Server KV-cache usage", [Line("kv cache", usage)], unit="%"))
    if metric("ttft").get("series"):
        server = [(t - t0, None if p50 is None else p50 * 1000) for t, _, p50, *_ in metric("ttft")["series"]]
        charts.append(line_chart("TTFT p50: server and client", [
            Line("server", server), Line("client", own("ttft_p50_ms"), dashed=True)], unit="ms"))
    tokens = metric("generation_tokens")
    if tokens.get("type") == "counter" and tokens.get("series"):
        charts.append(line_chart("Output tokens/s: server and client", [
            Line("server", [(t - t0, v) for t, v in tokens["series"]]),
            Line("client", own("output_tokens"), dashed=True)], unit="tokens/s"))
    return charts


def _grid(charts: list[str]) -> str:
    return '<div class="llm-grid">' + "".join(f"<div>{c}</div>" for c in charts) + "</div>"


def llm_section(summary: dict) -> str:
    """The whole LLM section: tables, then charts."""
    parts = [f"<style>{STYLE}</style>", "<h2>LLM Statistics</h2>", _meta(summary), summary_table(summary)]
    if summary.get("slos"):
        parts += ["<h2>SLOs</h2>", slo_table(summary)]
    parts += ["<h2>LLM Latency Statistics</h2>", latency_table(summary)]
    if summary.get("failures") or summary.get("retried"):
        cancelled = summary.get("cancelled_by_stop") or 0
        parts += ["<h2>LLM Failures</h2>", failures_table(summary)]
        if cancelled:
            parts.append(f'<p class="llm-note">{cancelled:,} request(s) cancelled by the stop (after the '
                         "drain timeout) are shown and do not fail the run.</p>")
    parts += ["<h2>LLM Charts</h2>", "<h3>Latency by percentile</h3>", _grid(distribution_charts(summary)),
              "<h3>Over time (per second of the run)</h3>", f'<p class="llm-note">{TIME_NOTE}</p>',
              _grid(time_charts(summary))]
    if image_classes(summary):
        parts += ["<h2>Images</h2>", image_table(summary), "<h3>Over time</h3>", _grid(image_charts(summary))]
    parts += server_section(summary)
    parts.append(f"<script>{HOVER_SCRIPT}</script>")
    return '<section class="llm" id="llm-report">' + "".join(parts) + "</section>"


def inject(report: str, section: str) -> str:
    """Locust's report with ``section`` after its own content (before the last ``</body>``)."""
    at = report.rfind("</body>")
    if at < 0:
        return report + section
    return report[:at] + section + report[at:]


def standalone(section: str, title: str = "LLM Test Report") -> str:
    """``section`` as a page of its own (when there is no Locust report to add it to)."""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
            f'<body style="margin:0">{section}</body></html>')
