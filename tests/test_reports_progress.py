"""The progress line: its figures, its format, and when it stays quiet. No Locust, no terminal."""

import io
from types import SimpleNamespace

import pytest
from test_reports_gates import timed

from metrics.collector import LlmMetrics
from reports.progress import Progress, Snapshot, format_line, snapshot


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def metrics_over(seconds: int) -> LlmMetrics:
    """One request ending each second, 11 tokens each (wall clock 1000 + i)."""
    metrics = LlmMetrics()
    for i in range(seconds):
        metrics.add(timed(start=i, ttft=0.1 + i / 1000))
    metrics.add(timed(error="HTTP 500: boom", start=1))
    return metrics


def test_the_snapshot_counts_requests_errors_recent_tokens_and_the_ttft_median():
    snap = snapshot(metrics_over(30), now=1030.5, started=1000.0)
    assert (snap.requests, snap.errors) == (31, 1)
    assert snap.tokens_per_s == pytest.approx(11.0)  # the last 10 whole seconds, one request each
    assert snap.ttft_p50_ms == pytest.approx(114.5, rel=1e-3)


def test_early_in_a_run_tokens_per_second_average_only_the_seconds_so_far():
    assert snapshot(metrics_over(3), now=1003.5, started=1000.0).tokens_per_s == pytest.approx(11.0)


def test_the_line_has_the_bar_times_and_figures_and_fits_the_width():
    line = format_line(Snapshot(1234, 2, 5678.4, 123.4), elapsed=27, run_time=60, width=110)
    assert line.startswith(" 45%|")
    assert "00:27<00:33" in line
    assert line.endswith("1,234 req  5,678 tok/s  TTFT p50 123 ms  2 errors")
    assert len(format_line(Snapshot(1234, 2, 5678.4, 123.4), 27, 60, width=50)) <= 50


def test_without_a_run_time_the_line_shows_the_elapsed_time():
    line = format_line(Snapshot(5, 1, 0.0, None), elapsed=75, run_time=None, width=100)
    assert line == "01:15  5 req  0 tok/s  TTFT p50 n/a  1 error"


def test_the_line_redraws_in_place_and_is_erased_at_the_end():
    out = Tty()
    progress = Progress(out, started=1000.0, run_time=60, width=100)
    progress.show(metrics_over(5), now=1005.5)
    progress.show(metrics_over(6), now=1006.5)
    progress.close()
    writes = out.getvalue().split("\r\x1b[K")
    assert writes[0] == "" and writes[-1] == "" and len(writes) == 4
    assert all(w.endswith("\r") for w in writes[1:3])


@pytest.mark.parametrize(("options", "tty", "shown"), [
    ({"headless": True, "only_summary": False, "run_time": 60}, True, True),
    ({"headless": True, "only_summary": True, "run_time": 60}, True, False),
    ({"headless": False, "only_summary": False, "run_time": None}, True, False),
    ({"headless": True, "only_summary": False, "run_time": None}, False, False),
])
def test_the_line_shows_only_for_a_headless_run_on_a_terminal_without_only_summary(options, tty, shown):
    stream = Tty() if tty else io.StringIO()
    progress = Progress.for_run(SimpleNamespace(**options), started=0.0, stream=stream)
    assert (progress is not None) == shown
