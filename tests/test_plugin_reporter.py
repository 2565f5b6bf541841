"""The ITL row's batches: the same figures in Locust's row as one ``log`` a sample would give."""

import gc
import random

import gevent
from locust import events
from locust import stats as locust_stats
from locust.env import Environment

from plugin import reporter
from plugin.reporter import LocustReporter, RowBatch
from streaming.record import RequestRecord

FIELDS = ("num_requests", "num_failures", "total_response_time", "min_response_time", "max_response_time",
          "total_content_length")


def figures(entry):
    return ({name: getattr(entry, name) for name in FIELDS}, dict(entry.response_times),
            sum(entry.num_reqs_per_sec.values()))


def test_a_flushed_batch_gives_the_row_what_a_log_a_sample_gives():
    env = Environment(events=events)
    rng = random.Random(7)
    times = [rng.uniform(0.1, 40) for _ in range(500)] + [150.4, 2345.6, 12345.0]
    logged, batched = env.stats.get("ITL [logged]", "LLM"), env.stats.get("ITL [batched]", "LLM")
    for ms in times:
        logged.log(ms, 0)
    batch = RowBatch(batched)
    for ms in times[:200]:
        batch.add(ms)
    batch.flush()
    for ms in times[200:]:
        batch.add(ms)
    batch.flush()
    got, want = figures(batched), figures(logged)
    assert got[0]["total_response_time"] == sum(times[:200]) + sum(times[200:])
    got[0]["total_response_time"] = want[0]["total_response_time"] = round(want[0]["total_response_time"], 6)
    assert got == want
    assert batched.get_response_time_percentile(0.95) == logged.get_response_time_percentile(0.95)


def test_a_batch_reaches_the_row_by_itself_within_its_period(monkeypatch):
    monkeypatch.setattr(reporter, "FLUSH_EVERY", 0.05)
    env = Environment(events=events)
    entry = env.stats.get("ITL [x]", "LLM")
    batch = RowBatch(entry)
    batch.add(7.0)
    batch.add(8.0)
    assert entry.num_requests == 0
    gevent.sleep(0.15)
    assert entry.num_requests == 2
    batch.add(9.0)  # a second batch gets a timer of its own
    gevent.sleep(0.15)
    assert entry.num_requests == 3 and entry.max_response_time == 9.0


def test_bucketing_is_locusts_own_even_when_replaced(monkeypatch):
    monkeypatch.setattr(locust_stats, "bucket_response_time", lambda ms: int(ms) // 5 * 5)
    env = Environment(events=events)
    entry = env.stats.get("ITL [x]", "LLM")
    batch = RowBatch(entry)
    for ms in (1.0, 4.9, 5.1, 12.0):
        batch.add(ms)
    batch.flush()
    assert dict(entry.response_times) == {0: 2, 5: 1, 10: 1}


def test_a_request_is_logged_whole_only_after_its_gaps_are_in_the_itl_row():
    env = Environment(events=events)
    env.create_local_runner()
    seen = []
    env.events.request.add_listener(
        lambda **kw: seen.append(env.stats.get("ITL [text]", "LLM").num_requests))
    rep = LocustReporter(env, "/v1/chat/completions", "text", lambda record, retried: None)
    record = RequestRecord("text")
    record.t_start, record.t_end = 0.0, 0.02
    rep.first_token(record, 0.01)
    for _ in range(5):
        rep.token(record, 0.007)
    rep.done(record)
    assert seen == [5]


def test_reporters_of_one_row_share_its_batch_and_a_new_runs_row_gets_its_own():
    env = Environment(events=events)
    first = LocustReporter(env, "/v1/chat/completions", "text", lambda record, retried: None)
    second = LocustReporter(env, "/v1/chat/completions", "text", lambda record, retried: None)
    assert first._itl is second._itl
    old = env.stats.get("ITL [text]", "LLM")
    del first, second
    gc.collect()
    assert id(old) not in reporter._batches  # no reporter holds it: the batch (and its row) can go
    env.stats.clear_all()  # what Locust does when it starts a new run
    third = LocustReporter(env, "/v1/chat/completions", "text", lambda record, retried: None)
    third.token(RequestRecord("text"), 0.007)
    third._itl.flush()
    assert third._itl.entry is env.stats.get("ITL [text]", "LLM") and third._itl.entry.num_requests == 1
    assert old.num_requests == 0
