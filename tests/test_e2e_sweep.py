"""A sweep finds the knee of a server whose knee is known.

The emulator's ITL grows by 1 ms per other stream in flight (5 ms alone), 50 tokens after a
50 ms TTFT. At a rate r, Little's law gives c = r * E2E(c) streams in flight, E2E(c) =
0.3 + 0.05 (c - 1) s, so c = 3.3 at 8 requests/s (mean ITL ~7.3 ms) and 7.5 at 12 (ITL
~11.5 ms): with ``--slo mean_itl_ms=10`` the knee lies between them (10.9 requests/s).
"""

import pytest

from emulator.launch import start_emulator

from locust_run import run_locust

pytestmark = pytest.mark.load


def test_a_sweep_reports_the_highest_rate_meeting_the_slos_at_the_knee(tmp_path):
    with start_emulator("--ttft-ms", "50", "--itl-ms", "5", "--itl-ms-per-stream", "1") as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "40", "-r", "40", "--max-tokens", "50", "--seed", "3",
            "--sweep", "4,8,12,16", "--sweep-step-time", "8s", "--slo", "mean_itl_ms=10", "TextChatUser",
            timeout=120,
        )
    sweep = summary["sweep"]
    steps = sweep["steps"]
    assert [s["request_rate"] for s in steps] == [4, 8, 12, 16]
    assert [s["slos_met"] for s in steps] == [True, True, False, False], [s["mean_itl_ms"] for s in steps]
    assert sweep["max_rate_meeting_slos"] == 8
    for step in steps:  # each step offered what it asked for (up to Poisson noise)
        assert step["request_rate_achieved"] == pytest.approx(step["request_rate"], rel=0.25)
    assert proc.returncode == 4  # the whole run, over every step, breaches the ITL SLO


def test_an_auto_sweep_measures_saturation_then_runs_shares_of_it(tmp_path):
    with start_emulator("--ttft-ms", "50", "--itl-ms", "5", "--itl-ms-per-stream", "1") as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "8", "-r", "8", "--max-tokens", "20", "--seed", "3",
            "--sweep", "auto", "--sweep-step-time", "3s", "TextChatUser", timeout=120,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = summary["sweep"]
    saturation = sweep["saturation_rate"]
    assert saturation > 10  # 8 users back to back, ~0.2-0.4 s a request
    rates = [s["request_rate"] for s in sweep["steps"]]
    assert rates[0] is None and rates[1:] == pytest.approx([saturation * f for f in (0.9, 0.75, 0.6, 0.45,
                                                                                   0.3, 0.15)])
    for step in sweep["steps"][2:]:  # below saturation every step offered what it asked for
        assert step["request_rate_achieved"] == pytest.approx(step["request_rate"], rel=0.35)
