"""The stop for a run that can only repeat one client error."""

from metrics.guard import RepeatedErrorGuard
from streaming.record import RequestRecord


def failed(status: int, error: str) -> RequestRecord:
    return RequestRecord("text", status=status, error=error)


def feed(guard: RepeatedErrorGuard, records: list[RequestRecord]) -> list[str]:
    return [reason for reason in map(guard.feed, records) if reason is not None]


def test_the_first_n_requests_failing_with_the_same_404_stop_the_run_once():
    guard = RepeatedErrorGuard(first=5)
    reasons = feed(guard, [failed(404, "HTTP 404: The model `qwen3` does not exist.")] * 12)
    assert len(reasons) == 1
    assert reasons[0].startswith("stopped: the first 5 requests all failed with 'HTTP 404: The model")
    assert "--model" in reasons[0] and "--no-stop-on-repeated-error" in reasons[0]
    assert "\n" not in reasons[0]


def test_messages_that_differ_only_in_numbers_are_one_error():
    guard = RepeatedErrorGuard(first=3)
    records = [failed(400, f"HTTP 400: max_tokens must be at most {n}") for n in (100, 200, 300)]
    assert len(feed(guard, records)) == 1


def test_one_success_among_the_first_n_means_no_stop():
    ok = RequestRecord("text", status=200)
    guard = RepeatedErrorGuard(first=3)
    assert feed(guard, [failed(422, "HTTP 422: x"), ok] + [failed(422, "HTTP 422: x")] * 10) == []


def test_two_different_errors_mean_no_stop():
    guard = RepeatedErrorGuard(first=3)
    records = [failed(404, "HTTP 404: a"), failed(400, "HTTP 400: b")] + [failed(404, "HTTP 404: a")] * 5
    assert feed(guard, records) == []


def test_rate_limits_server_errors_and_cancellations_never_stop_the_run():
    for record in (failed(429, "HTTP 429: slow down"), failed(500, "HTTP 500: boom"),
                   failed(0, "cancelled: test stopped mid-request")):
        assert feed(RepeatedErrorGuard(first=2), [record] * 5) == []


def test_switched_off_or_zero_it_never_fires():
    for guard in (RepeatedErrorGuard(first=2, enabled=False), RepeatedErrorGuard(first=0)):
        assert feed(guard, [failed(404, "HTTP 404: a")] * 5) == []
