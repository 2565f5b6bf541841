"""SLO gates and goodput: parsing, judging each request, the summary's figures. No Locust."""

import msgpack
import pytest

from metrics.collector import LlmMetrics
from metrics.report import format_table, summarize
from reports.goodput import Goodput, parse_goodput
from reports.slo import Slo, evaluate, format_results, parse_slos, to_json
from streaming.record import RequestRecord

CANCELLED = frozenset({"cancelled: test stopped mid-request"})


def timed(cls: str = "text", ttft: float = 0.1, tokens: int = 11, itl: float = 0.01, start: float = 0.0,
          error: str | None = None) -> RequestRecord:
    """A finished request: first token at ``ttft``, then a token every ``itl`` seconds."""
    r = RequestRecord(cls, t_start=start, wall_start=1000.0 + start)
    if error:
        r.t_end, r.error = start + 0.05, error
        return r
    r.token_times.extend(start + ttft + i * itl for i in range(tokens))
    r.t_first, r.t_end = r.token_times[0], r.token_times[-1]
    r.output_tokens, r.output_tokens_source = tokens, "usage"
    return r


def test_slos_parse_repeated_and_comma_separated_values():
    slos = parse_slos(["p95_ttft_ms=200", "error_rate=0.01,mean_tpot_ms=12.5"])
    assert slos == (Slo("p95_ttft_ms", 200), Slo("error_rate", 0.01), Slo("mean_tpot_ms", 12.5))
    assert parse_slos(None) == ()


@pytest.mark.parametrize(("value", "says"), [
    ("p97_ttft_ms=1", "expected NAME=MAX with NAME {mean,median,p90,p95,p99}_{ttft,tpot,itl,e2el}_ms"),
    ("p95_ttft_ms", "expected NAME=MAX"),
    ("p95_ttft_ms=fast", "MAX must be a number"),
    ("p95_ttft_ms=0", "milliseconds > 0"),
    ("error_rate=2", "ratio from 0 to 1"),
    ("p95_ttft_ms=1,p95_ttft_ms=2", "given twice"),
])
def test_a_bad_slo_is_one_line_naming_it(value, says):
    with pytest.raises(ValueError) as err:
        parse_slos([value])
    assert says in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("--slo ")


def test_goodput_parses_vllm_style_bounds_in_ms():
    assert parse_goodput(["ttft:125", "tpot:10"]) == Goodput(ttft=0.125, tpot=0.010)
    assert parse_goodput("e2el:2000 ttft:50") == Goodput(ttft=0.05, e2el=2.0)
    assert parse_goodput([]) is None
    with pytest.raises(ValueError, match="user classes go before --goodput"):
        parse_goodput(["ttft:125", "TextChatUser"])


def test_a_request_is_good_only_when_it_succeeded_and_met_every_bound():
    bounds = Goodput(ttft=0.125, tpot=0.012)
    assert bounds.met(timed(ttft=0.1, itl=0.01))
    assert not bounds.met(timed(ttft=0.13))
    assert not bounds.met(timed(itl=0.02))
    assert not bounds.met(timed(error="HTTP 500: boom"))
    assert bounds.met(timed(tokens=1))  # one token: TPOT 0, as vLLM counts it


def test_goodput_share_and_rate_per_class_with_cancelled_requests_not_judged():
    metrics = LlmMetrics(goodput=Goodput(ttft=0.125))
    for i, ttft in enumerate([0.1, 0.11, 0.12, 0.13]):
        metrics.add(timed("text", ttft=ttft, start=i))
    metrics.add(timed("base64", ttft=0.2, start=1))
    metrics.add(timed("base64", error="HTTP 500: boom", start=2))
    metrics.add(timed("base64", error="cancelled: test stopped mid-request", start=3))
    summary = summarize(metrics, CANCELLED)
    assert summary["good_requests"] == 3
    assert summary["goodput_share"] == pytest.approx(3 / 6)  # the cancelled one is not judged
    assert summary["request_goodput"] == pytest.approx(3 / summary["duration"])
    assert summary["per_class"]["text"]["goodput_share"] == pytest.approx(0.75)
    assert summary["per_class"]["base64"]["goodput_share"] == 0.0
    assert summary["per_class"]["base64"]["cancelled_by_stop"] == 1
    assert summary["goodput"] == {"ttft": 125.0}
    assert "Goodput share (ttft<=125ms):" in format_table(summary)


def test_goodput_counts_survive_the_trip_from_a_worker():
    worker = LlmMetrics(goodput=Goodput(ttft=0.125), keep_rows=True)
    worker.add(timed(ttft=0.1))
    worker.add(timed(ttft=0.2))
    master = LlmMetrics(goodput=Goodput(ttft=0.125))
    master.merge(LlmMetrics.from_dict(msgpack.unpackb(msgpack.packb(worker.to_dict()), strict_map_key=False)))
    summary = summarize(master)
    assert summary["good_requests"] == 1 and "goodput_unjudged" not in summary


def test_requests_from_metrics_that_judged_nothing_are_named_not_counted_good():
    master = LlmMetrics(goodput=Goodput(ttft=0.125))
    unjudged = LlmMetrics()
    unjudged.add(timed(ttft=0.1))
    master.merge(LlmMetrics.from_dict(unjudged.to_dict()))
    assert summarize(master)["goodput_unjudged"] == 1


def test_no_goodput_bounds_no_goodput_keys():
    metrics = LlmMetrics()
    metrics.add(timed())
    assert "request_goodput" not in summarize(metrics)


def summary_of(*records: RequestRecord) -> dict:
    metrics = LlmMetrics()
    for r in records:
        metrics.add(r)
    return summarize(metrics, CANCELLED)


def test_slos_are_met_at_their_limit_and_breached_above_it():
    summary = summary_of(timed(ttft=0.1), timed(ttft=0.1, start=1))
    results = evaluate(parse_slos(["p95_ttft_ms=100.5", "mean_ttft_ms=99"]), summary)
    assert [r.met for r in results] == [True, False]
    text = format_results(to_json(results))
    assert "SLOs: 1 met, 1 breached" in text
    assert "BREACHED  mean_ttft_ms <= 99 ms: measured 100.00 ms" in text


def test_error_rate_leaves_out_the_requests_the_stop_cancelled():
    summary = summary_of(timed(), timed(start=1), timed(start=2), timed(error="HTTP 500: boom", start=3),
                         timed(error="cancelled: test stopped mid-request", start=4))
    (result,) = evaluate(parse_slos(["error_rate=0.25"]), summary)
    assert result.measured == pytest.approx(0.25) and result.met


def test_an_slo_with_nothing_to_measure_is_breached():
    summary = summary_of(timed(error="HTTP 500: boom"))
    (result,) = evaluate(parse_slos(["p95_ttft_ms=1000"]), summary)
    assert result.measured is None and not result.met
    assert "n/a (no sample)" in format_results(to_json([result]))
