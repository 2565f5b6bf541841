"""The LLM section and its SVG charts from summaries alone: no Locust, no browser."""

import re

from test_metrics_server_side import mindie_record, reasoning_record
from test_reports_gates import CANCELLED, timed

from metrics.collector import LlmMetrics
from metrics.report import summarize
from reports.html import inject, llm_section, standalone
from reports.svg import Line, downsample, line_chart, nice_step, percentile_x


def section_of(*records) -> str:
    metrics = LlmMetrics()
    for r in records:
        metrics.add(r)
    return llm_section(summarize(metrics, CANCELLED))


def test_one_class_shows_one_row_and_its_charts():
    html = section_of(*(timed(start=i) for i in range(5)))
    assert html.count("<tr") == 1 + 1 + 1 + 4  # header, the row; latency table header + 4 latencies
    assert html.count('<svg class="llm-chart"') == 9
    assert "Images" not in html


def test_a_run_whose_requests_all_failed_renders_without_samples():
    html = section_of(timed(error="HTTP 500: boom"),
                      timed(error="cancelled: test stopped mid-request", start=1))
    assert "n/a" in html and "no samples" in html
    assert "1 request(s) cancelled by the stop" in html
    assert "HTTP 500: boom" in html


def test_text_from_the_server_is_escaped():
    html = section_of(timed(error="HTTP 400: <script>alert(1)</script>"))
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


def test_the_section_goes_before_the_reports_closing_body_and_stands_alone_too():
    assert inject("<html><body><div id=root></div></body></html>", "<section/>") == (
        "<html><body><div id=root></div><section/></body></html>")
    assert standalone("<section/>").startswith("<!DOCTYPE html>")


def test_a_chart_breaks_its_line_at_gaps_and_keeps_long_runs_to_a_few_hundred_points():
    svg = line_chart("t", [Line("a", [(0, 1.0), (1, 2.0), (2, None), (3, 1.0), (4, 2.0)])])
    assert svg.count("<polyline") == 2
    assert len(downsample([(i, float(i)) for i in range(3600)])) <= 600
    long = line_chart("t", [Line("a", [(i, float(i % 7)) for i in range(3600)])])
    points = re.search(r'points="([^"]+)"', long).group(1).split()
    assert len(points) <= 600


def test_axis_helpers():
    assert [nice_step(x) for x in (1, 7, 130, 2400)] == [0.2, 2, 50, 500]
    assert percentile_x(90) == 1.0 and abs(percentile_x(99.9) - 3) < 1e-9


def latency_labels(html: str) -> list[str]:
    """The first cell of each row of the latency table."""
    table = html.split("<h2>LLM Latency Statistics</h2>", 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr><td>([^<]+)</td>", table)


def test_a_plain_run_has_neither_ttfo_nor_server_rows():
    html = section_of(*(timed(start=i) for i in range(3)))
    assert latency_labels(html) == ["TTFT", "TPOT", "ITL", "E2E latency"]
    assert "Reasoning tokens" not in html


def test_a_reasoning_run_shows_ttfo_and_reasoning_tokens_beside_output_tokens():
    html = section_of(*(reasoning_record(float(i)) for i in range(4)))
    assert latency_labels(html) == ["TTFT", "TPOT", "ITL", "E2E latency", "TTFO (answer)"]
    ttfo = html.split("<td>TTFO (answer)</td><td>all</td>", 1)[1]
    assert ttfo.startswith("<td class=num>130.00</td>")  # the mean: 3 reasoning chunks 10 ms apart
    header = re.findall(r"<th[^>]*>([^<]+)</th>", html.split("</thead>", 1)[0])
    at = header.index("Output tokens")
    assert header[at + 1] == "Reasoning tokens"
    assert "<td class=num>20</td><td class=num>12</td>" in html  # 4 x 5 output tokens, 4 x 3 reasoning
    assert "<b>Reasoning tokens counted from:</b> usage 4" in html


def test_a_mindie_style_run_shows_the_servers_timings_and_no_ttfo():
    html = section_of(mindie_record(0.0, 90.0), mindie_record(1.0, 95.0))
    assert latency_labels(html) == ["TTFT", "TPOT", "ITL", "E2E latency", "Server prefill", "Server ITL",
                                    "TTFT &minus; server prefill"]
    prefill = html.split("<td>Server prefill</td><td>all</td>", 1)[1]
    assert prefill.startswith("<td class=num>92.50</td>")
    assert "Reasoning tokens" not in html
