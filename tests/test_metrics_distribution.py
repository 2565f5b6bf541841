"""The log-bucketed distribution against numpy on the raw samples: no network, no Locust."""

import math
from array import array

import msgpack
import numpy as np
import orjson
import pytest

from metrics.distribution import BATCH, GROWTH, Distribution

QS = (50, 90, 95, 99, 99.9)
BOUND = 1e-3
"""The stated worst-case relative error of a percentile."""


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


SHAPES = {
    "lognormal ttft": lambda: _rng(1).lognormal(math.log(0.12), 0.6, 50_000),
    "itl uniform 4-6 ms": lambda: _rng(2).uniform(0.004, 0.006, 50_000),
    "itl uniform 0.05-0.5 ms": lambda: _rng(3).uniform(5e-5, 5e-4, 50_000),
    "bimodal": lambda: np.concatenate([_rng(4).normal(0.007, 5e-4, 30_000),
                                       _rng(5).normal(0.25, 0.02, 10_000)]),
    "wide 1 us..100 s": lambda: np.exp(_rng(6).uniform(math.log(1e-6), math.log(100.0), 50_000)),
    "ten samples": lambda: _rng(7).lognormal(-3, 1, 10),
    "one sample": lambda: np.array([0.0123]),
}


def built(samples: np.ndarray) -> Distribution:
    dist = Distribution()
    for s in samples.tolist():
        dist.add(s)
    return dist


@pytest.mark.parametrize("shape", SHAPES)
def test_percentiles_are_within_a_tenth_of_a_percent_of_numpy(shape):
    samples = SHAPES[shape]()
    got = built(samples).percentiles(QS)
    for q, want in zip(QS, np.percentile(samples, QS), strict=True):
        assert got[q] == pytest.approx(want, rel=BOUND), q


@pytest.mark.parametrize("shape", SHAPES)
def test_mean_is_exact_and_std_matches_numpy(shape):
    samples = SHAPES[shape]()
    dist = built(samples)
    assert dist.n == samples.size
    assert dist.mean == pytest.approx(np.mean(samples), rel=1e-9)
    assert dist.std == pytest.approx(np.std(samples), rel=1e-6, abs=1e-12)


def test_min_and_max_are_exact():
    samples = SHAPES["lognormal ttft"]()
    dist = built(samples)
    assert dist.min == samples.min() and dist.max == samples.max()
    assert dist.percentiles((0, 100)) == {0: samples.min(), 100: samples.max()}
    summary = dist.summary_ms()
    assert summary["min"] == samples.min() * 1e3 and summary["max"] == samples.max() * 1e3


def test_one_repeated_value_reads_back_exactly():
    dist = Distribution()
    dist.extend([0.007] * 10_000)
    assert set(dist.percentiles(QS).values()) == {0.007}


def test_zero_gaps_read_as_zero_and_a_negative_one_as_itself():
    gaps = [0.0] * 30 + [-2e-6] + [0.005] * 69  # events of one read share its time; a clock quirk
    dist = Distribution()
    dist.extend(gaps)
    assert dist.n == 100 and dist.buckets == 3
    got = dist.percentiles((0, 10, 50))
    assert got[0] == -2e-6 and got[10] == 0.0 and got[50] == pytest.approx(0.005, rel=BOUND)
    assert dist.mean == pytest.approx(np.mean(gaps), rel=1e-9)
    assert dist.min == -2e-6


def test_a_difference_of_two_clocks_reads_within_a_tenth_of_a_percent_on_both_sides_of_zero():
    rng = np.random.default_rng(5)
    samples = rng.normal(0.002, 0.004, 50_000)  # TTFT - server prefill: mostly positive, some not
    halves = Distribution(), Distribution()
    halves[0].extend(samples[:20_000].tolist())
    halves[1].extend(samples[20_000:].tolist())
    dist = Distribution.from_dict(halves[0].to_dict())
    dist.merge(Distribution.from_dict(halves[1].to_dict()))
    qs = (1, 5, 10, 25, 50, 75, 99)
    got = dist.percentiles(qs)
    for q, want in zip(qs, np.percentile(samples, qs), strict=True):
        assert got[q] == pytest.approx(want, rel=BOUND, abs=1e-8), q
    assert got[1] < 0 < got[99]
    assert dist.min == samples.min() and dist.max == samples.max()


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_not_a_number_and_infinity_do_not_crash():
    dist = Distribution()
    dist.extend([0.004, math.nan, math.inf, 0.006])
    dist.summary_ms()
    orjson.dumps(dist.to_dict())
    assert dist.n == 4


def test_empty_distribution_reads_as_zeros():
    dist = Distribution()
    assert dist.n == 0 and dist.mean == 0.0 and dist.std == 0.0
    stats = ("mean", "median", "std", "p50", "p90", "p95", "p99", "min", "max")
    assert dist.summary_ms() == dict.fromkeys(stats, 0.0)


def test_merged_distributions_equal_one_built_from_all_samples():
    xs, ys = SHAPES["lognormal ttft"](), SHAPES["bimodal"]()
    a, b, both = built(xs), built(ys), built(np.concatenate([xs, ys]))
    a.merge(b)
    assert a.to_dict()["counts"] == both.to_dict()["counts"]
    assert a.percentiles(QS) == both.percentiles(QS)
    assert a.n == both.n and a.mean == pytest.approx(both.mean, rel=1e-12)
    assert (a.min, a.max) == (both.min, both.max)


def test_merge_into_an_empty_distribution_and_of_an_empty_one():
    samples = SHAPES["itl uniform 4-6 ms"]()
    empty, full = Distribution(), built(samples)
    empty.merge(full)
    full.merge(Distribution())
    assert empty.percentiles(QS) == full.percentiles(QS) and empty.n == full.n == samples.size


@pytest.mark.parametrize("codec", ["msgpack", "orjson"])
def test_to_dict_round_trips_through_msgpack_and_json(codec):
    dist = built(SHAPES["wide 1 us..100 s"]())
    dist.extend([0.0, -1e-7])
    if codec == "msgpack":
        shipped = msgpack.unpackb(msgpack.packb(dist.to_dict()), strict_map_key=False)
    else:
        shipped = orjson.loads(orjson.dumps(dist.to_dict()))
    back = Distribution.from_dict(shipped)
    assert back.to_dict() == dist.to_dict()
    assert back.summary_ms() == dist.summary_ms()


def test_empty_distribution_round_trips_through_json():
    back = Distribution.from_dict(orjson.loads(orjson.dumps(Distribution().to_dict())))
    assert back.n == 0 and back.summary_ms()["max"] == 0.0


def test_buffered_samples_are_counted_before_any_read():
    dist = Distribution()
    dist.extend([0.01] * (BATCH + 3))
    assert dist.n == BATCH + 3
    dist.add(0.02)
    assert dist.percentiles((100,)) == {100: 0.02} and dist.n == BATCH + 4


def test_buckets_stay_bounded_by_the_range_not_the_sample_count():
    dist = Distribution()
    dist.extend(np.exp(_rng(8).uniform(math.log(1e-6), math.log(100.0), 1_000_000)).tolist())
    spanned = math.log(100.0 / 1e-6) / math.log(GROWTH) + 2  # log buckets the range can touch
    assert dist.n == 1_000_000
    assert dist.buckets <= spanned + 1 < 18_500  # and zero's bucket


LONG_STREAM = [0.5 + 0.007 * i + 0.001 * (i % 3) for i in range(700)]


@pytest.mark.parametrize("times", [[], [1.0], [1.0, 1.25], LONG_STREAM])
def test_gaps_of_token_times_equal_the_samples_added_one_by_one(times):
    by_gaps, one_by_one = Distribution(), Distribution()
    by_gaps.add_gaps(array("d", times))
    for earlier, later in zip(times, times[1:], strict=False):
        one_by_one.add(later - earlier)
    assert by_gaps.n == one_by_one.n == max(len(times) - 1, 0)
    assert by_gaps.to_dict() == one_by_one.to_dict()
