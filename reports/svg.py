"""Line charts as inline SVG: the HTML report's plots, drawn here so the file needs no script
library and opens offline (a chart library inlined in the page would add about 1 MB to it).

Pure: series of points in, an ``<svg>`` string out. The look follows the charts of Locust's
own report (ECharts' palette, a legend of dots above the plot, dashed grid lines, grey axis
labels). Each chart carries its points as JSON in ``data-series``, which the report's small
script (:data:`HOVER_SCRIPT`) reads to show the values under the pointer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import orjson

PALETTE = ("#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4",
           "#ea7ccc")
"""ECharts' default colours, which Locust's report charts use."""
WIDTH, HEIGHT = 560, 280
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 62, 18, 58, 34
MAX_POINTS = 600
"""A line keeps at most this many points (a long run's seconds are averaged into wider steps)."""
PERCENTILE_TICKS = ((0.0, ""), (50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (99.9, "p99.9"))
"""Ticks of a latency-by-percentile axis (the origin, the minimum, left unlabelled: "p0" reads oddly)."""
LEGEND_ROW = 16


@dataclass(frozen=True, slots=True)
class Line:
    """One series: ``points`` are (x, y); a y of None leaves a gap."""

    name: str
    """Its name in the hover box (and the legend, unless ``legend`` says otherwise)."""
    points: Sequence[tuple[float, float | None]]
    dashed: bool = False
    color: str = ""
    legend: str | None = ""
    """The legend's label: "" the name, None no entry (a dashed partner the title explains)."""


def percentile_x(q: float) -> float:
    """Where percentile ``q`` (0..100) sits on a latency-by-percentile axis: the tail spread out
    as HdrHistogram plots it (each further nine gets the same width)."""
    return -math.log10(max(1.0 - q / 100.0, 1e-4))


def nice_step(span: float, ticks: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about ``ticks`` intervals."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def format_number(value: float) -> str:
    """Axis labels: 1.5k, 12, 0.25."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:g}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:.4g}"


def format_elapsed(seconds: float) -> str:
    """m:ss, or h:mm:ss past an hour."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def downsample(points: Sequence[tuple[float, float | None]], limit: int = MAX_POINTS
               ) -> list[tuple[float, float | None]]:
    """At most ``limit`` points: consecutive points averaged in equal groups (gaps kept as gaps
    when a whole group is empty)."""
    if len(points) <= limit:
        return list(points)
    size = math.ceil(len(points) / limit)
    out: list[tuple[float, float | None]] = []
    for start in range(0, len(points), size):
        group = points[start:start + size]
        values = [y for _, y in group if y is not None]
        out.append((group[0][0], sum(values) / len(values) if values else None))
    return out


class _Frame:
    """The plot area and its scales."""

    def __init__(self, x_range: tuple[float, float], y_max: float, width: int, height: int,
                 top: int = PAD_TOP) -> None:
        self.x0, self.x1 = x_range
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1
        self.step = nice_step(y_max or 1.0)
        self.y_max = self.step * max(1, math.ceil((y_max or 1.0) / self.step - 1e-9))
        self.left, self.right = PAD_LEFT, width - PAD_RIGHT
        self.top, self.bottom = top, height - PAD_BOTTOM

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - value / self.y_max * (self.bottom - self.top)


def line_chart(title: str, lines: Sequence[Line], *, x_kind: str = "elapsed", unit: str = "",
               width: int = WIDTH, height: int = HEIGHT) -> str:
    """An SVG line chart. ``x_kind``: "elapsed" (seconds, labelled m:ss), "percentile" (0..100 on
    :func:`percentile_x`) or "number"; ``unit`` is shown above the y axis and in the hover box."""
    lines = [Line(ln.name, downsample(ln.points), ln.dashed, ln.color or PALETTE[i % len(PALETTE)], ln.legend)
             for i, ln in enumerate(lines)]
    to_x = percentile_x if x_kind == "percentile" else float
    xs = [to_x(x) for ln in lines for x, _ in ln.points]
    ys = [y for ln in lines for _, y in ln.points if y is not None]
    x_range = ((0.0, percentile_x(99.9)) if x_kind == "percentile"
               else (min(xs, default=0.0), max(xs, default=1.0)))
    rows = _legend_rows(lines, width)
    top = PAD_TOP + LEGEND_ROW * (max(len(rows), 1) - 1)
    frame = _Frame(x_range, max(ys, default=0.0), width, height, top)
    parts = [f'<text class="llm-chart-title" x="4" y="18">{escape(title)}</text>', _legend(rows, width)]
    parts += _y_axis(frame, unit)
    parts += _x_axis(frame, x_kind)
    if not ys:
        parts.append(f'<text class="llm-axis" x="{(frame.left + frame.right) / 2:.1f}" '
                     f'y="{(frame.top + frame.bottom) / 2:.1f}" text-anchor="middle">no samples</text>')
    for ln in lines:
        parts += _polylines(frame, ln, to_x)
    data = {"kind": x_kind, "unit": unit, "lines": [
        {"name": ln.name, "color": ln.color, "points": [[x, None if y is None else round(y, 4)]
                                                       for x, y in ln.points]} for ln in lines]}
    box = (f'data-left="{frame.left}" data-right="{frame.right}" data-x0="{frame.x0:g}" '
           f'data-x1="{frame.x1:g}"')
    return (f'<svg class="llm-chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{escape(title)}" {box} '
            f"data-series='{escape(orjson.dumps(data).decode(), quote=True)}'>"
            + "".join(parts) + "</svg>")


LegendRows = list[tuple[list[tuple[Line, str, float]], float]]


def _legend_rows(lines: Sequence[Line], width: int) -> LegendRows:
    """The legend's entries in rows that fit ``width``: (line, label, width) and the row's width."""
    rows: LegendRows = []
    row: list[tuple[Line, str, float]] = []
    used = 0.0
    for ln in lines:
        if ln.legend is None:
            continue
        label = ln.legend or ln.name
        size = 22 + 6.4 * len(label)
        if row and used + size > width - 40:
            rows.append((row, used))
            row, used = [], 0.0
        row.append((ln, label, size))
        used += size
    if row:
        rows.append((row, used))
    return rows


def _legend(rows: LegendRows, width: int) -> str:
    """Dots (dashes for dashed lines) and labels, centred in rows above the plot, as ECharts does."""
    items = []
    for r, (row_items, used) in enumerate(rows):
        x = (width - used) / 2
        y = 38 + r * LEGEND_ROW
        for ln, label, size in row_items:
            mark = (f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 12:.1f}" y2="{y - 4}" stroke="{ln.color}" '
                    f'stroke-width="3" stroke-dasharray="5 2"/>' if ln.dashed else
                    f'<circle cx="{x + 6:.1f}" cy="{y - 4}" r="5" fill="{ln.color}"/>')
            items.append(mark + f'<text class="llm-legend" x="{x + 16:.1f}" y="{y}">{escape(label)}</text>')
            x += size
    return "".join(items)


def _y_axis(frame: _Frame, unit: str) -> list[str]:
    parts = []
    ticks = int(round(frame.y_max / frame.step))
    for i in range(ticks + 1):
        value = i * frame.step
        y = frame.y(value)
        style = "llm-axis-line" if i == 0 else "llm-grid"
        parts.append(f'<line class="{style}" x1="{frame.left}" y1="{y:.1f}" x2="{frame.right}" '
                     f'y2="{y:.1f}"/>')
        parts.append(f'<text class="llm-axis" x="{frame.left - 8}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{format_number(value)}</text>')
    if unit:
        parts.append(f'<text class="llm-axis" x="{frame.left - 8}" y="{frame.top - 10}" '
                     f'text-anchor="end">{escape(unit)}</text>')
    return parts


def _x_axis(frame: _Frame, x_kind: str) -> list[str]:
    if x_kind == "percentile":
        ticks = [(percentile_x(q), label) for q, label in PERCENTILE_TICKS]
    else:
        step = nice_step(frame.x1 - frame.x0, 6)
        if x_kind == "elapsed":
            step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) if s >= step),
                        3600 * math.ceil(step / 3600))
        first = math.ceil(frame.x0 / step) * step
        count = int((frame.x1 - first) / step + 1e-9) + 1
        ticks = [(first + i * step, format_elapsed(first + i * step) if x_kind == "elapsed"
                  else format_number(first + i * step)) for i in range(count)]
    parts = []
    for value, label in ticks:
        x = frame.x(value)
        parts.append(f'<line class="llm-axis-line" x1="{x:.1f}" y1="{frame.bottom}" x2="{x:.1f}" '
                     f'y2="{frame.bottom + 4}"/>')
        parts.append(f'<text class="llm-axis" x="{x:.1f}" y="{frame.bottom + 18}" '
                     f'text-anchor="middle">{label}</text>')
    return parts


def _polylines(frame: _Frame, line: Line, to_x) -> list[str]:
    """The line, one polyline per run of points without a gap (a lone point: a dot)."""
    segments: list[list[str]] = [[]]
    for x, y in line.points:
        if y is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(f"{frame.x(to_x(x)):.1f},{frame.y(y):.1f}")
    dash = ' stroke-dasharray="6 3"' if line.dashed else ""
    out = []
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{line.color}"/>')
        elif seg:
            out.append(f'<polyline fill="none" stroke="{line.color}" stroke-width="2"{dash} '
                       f'stroke-linejoin="round" points="{" ".join(seg)}"/>')
    return out


HOVER_SCRIPT = """
(function () {
  function fmt(v, kind) {
    if (v === null || v === undefined) return "-";
    var a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  }
  function px(x, kind) { return kind === "percentile" ? -Math.log10(Math.max(1 - x / 100, 1e-4)) : x; }
  function label(x, kind) {
    if (kind === "percentile") return "p" + x;
    if (kind !== "elapsed") return String(x);
    var s = Math.round(x), m = Math.floor(s / 60); s = s % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }
  var tip = document.createElement("div");
  tip.className = "llm-tip"; document.body.appendChild(tip);
  document.querySelectorAll("svg.llm-chart").forEach(function (svg) {
    var data = JSON.parse(svg.getAttribute("data-series"));
    var left = +svg.dataset.left, right = +svg.dataset.right, x0 = +svg.dataset.x0, x1 = +svg.dataset.x1;
    svg.addEventListener("mousemove", function (ev) {
      var box = svg.getBoundingClientRect(), scale = box.width / svg.viewBox.baseVal.width;
      var at = x0 + ((ev.clientX - box.left) / scale - left) / (right - left) * (x1 - x0);
      var rows = [], head = null;
      data.lines.forEach(function (ln) {
        var best = null, dist = Infinity;
        ln.points.forEach(function (p) {
          var d = Math.abs(px(p[0], data.kind) - at);
          if (d < dist) { dist = d; best = p; }
        });
        if (!best) return;
        head = head === null ? label(best[0], data.kind) : head;
        rows.push('<span style="color:' + ln.color + '">\u25cf</span> ' + ln.name + ": <b>" +
                  fmt(best[1]) + "</b> " + data.unit);
      });
      if (!rows.length) return;
      tip.innerHTML = "<div>" + head + "</div>" + rows.join("<br>");
      tip.style.display = "block";
      tip.style.left = (ev.pageX + 14) + "px"; tip.style.top = (ev.pageY + 14) + "px";
    });
    svg.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  });
})();
"""
"""Shows the values nearest the pointer on every chart (no library; the page works without it)."""
