"""The exit code's rules, on summaries: one code for each way a run can end, in their order."""

import pytest

from plugin.outcome import Facts, exit_code


def summary(completed=10, failed=0, cancelled=0, slos=(), lost=(), **batches):
    """A summary with the keys the rules read; ``batches``: outcome -> count (batch_<outcome>)."""
    return {"completed": completed, "failed": failed, "cancelled_by_stop": cancelled,
            "slos": list(slos), "lost_workers": list(lost), **{f"batch_{k}": v for k, v in batches.items()}}


MET = {"name": "p95_ttft_ms", "met": True}
BREACHED = {"name": "p95_ttft_ms", "met": False}
ERROR_BUDGET = {"name": "error_rate", "met": True}


@pytest.mark.parametrize(("run", "facts", "code"), [
    (summary(), Facts(), 0),
    (summary(failed=3, cancelled=3), Facts(), 0),
    (summary(failed=4, cancelled=3), Facts(), 1),
    (summary(), Facts(user_exceptions=1), 1),
    (summary(completed=0), Facts(), 3),
    (summary(slos=[MET]), Facts(), 0),
    (summary(slos=[MET, BREACHED]), Facts(), 4),
    (summary(failed=2, slos=[BREACHED]), Facts(), 1),
    (summary(failed=2, slos=[ERROR_BUDGET]), Facts(), 0),
    (summary(completed=0, failed=20), Facts(stopped_early=True), 5),
    (summary(lost=[{"worker": "w"}]), Facts(), 0),
    (summary(lost=[{"worker": "w"}]), Facts(fail_on_worker_loss=True), 6),
], ids=["ok", "cancelled-by-the-stop-only", "failed", "user-exception", "nothing-counted", "slo-met",
        "slo-breached", "failures-before-slos", "error-rate-slo-judges-failures", "stopped-early",
        "worker-lost", "worker-lost-fails-when-asked"])
def test_each_outcome_gives_its_exit_code(run, facts, code):
    assert exit_code(run, facts) == code


def test_batches_count_and_their_failures_fail_the_run():
    assert exit_code(summary(completed=0) | {"batch_completed": 3}, Facts()) == 0
    assert exit_code(summary(completed=0) | {"batch_completed": 3, "batch_expired": 1}, Facts()) == 1
    assert exit_code(summary(completed=0) | {"batch_cancelled": 2}, Facts()) == 0  # asked for
