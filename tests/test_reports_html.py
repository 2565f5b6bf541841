"""The LLM section and its SVG charts from summaries alone: no Locust, no browser."""

import re

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
