"""RandomDataset: exact lengths in the range_ratio bounds, shared or unique prefixes, checked arguments."""

import pytest

from payloads.errors import PayloadError
from payloads.random_dataset import RandomDataset, length_range
from payloads.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def real_ids(tok, sample):
    return tok(sample.messages[0]["content"], add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(
    ("length", "ratio", "bounds"),
    [
        (100, 0.0, (100, 100)), (100, 0.1, (90, 110)), (1000, 0.25, (750, 1250)), (3, 0.5, (1, 5)),
        (1, 0.9, (1, 2)),
    ],
)
def test_length_range_is_inclusive_and_never_below_one(length, ratio, bounds):
    assert length_range(length, ratio) == bounds


def test_lengths_stay_within_range_ratio_and_are_exact(tok):
    data = RandomDataset(tok, input_len=40, output_len=20, range_ratio=0.5, seed=11)
    samples = data.take(300)
    inputs = [len(real_ids(tok, s)) for s in samples]
    outputs = [s.expected_output_tokens for s in samples]
    assert inputs == [s.prompt_tokens for s in samples]
    assert min(inputs) == 20 and max(inputs) == 60
    assert min(outputs) == 10 and max(outputs) == 30
    assert all(s.template_overhead == 8 for s in samples)


def test_zero_range_ratio_gives_fixed_lengths(tok):
    samples = RandomDataset(tok, input_len=333, output_len=7, seed=2).take(20)
    assert {len(real_ids(tok, s)) for s in samples} == {333}
    assert {s.expected_output_tokens for s in samples} == {7}


def test_shared_prefix_is_the_same_tokens_in_every_request(tok):
    data = RandomDataset(tok, input_len=50, prefix_len=64, range_ratio=0.5, seed=3)
    samples = data.take(40)
    heads = {tuple(real_ids(tok, s)[:64]) for s in samples}
    assert len(heads) == 1
    for sample in samples:
        assert len(real_ids(tok, sample)) == sample.prompt_tokens
        assert 64 + 25 <= sample.prompt_tokens <= 64 + 75
    assert len({s.messages[0]["content"] for s in samples}) == 40


def test_unique_prefix_starts_every_request_differently(tok):
    samples = RandomDataset(tok, input_len=30, unique_prefix=True, seed=4).take(200)
    starts = {tuple(real_ids(tok, s)[:8]) for s in samples}
    assert len(starts) == 200
    assert samples[7].messages[0]["content"].startswith("Request 4.7:\n")
    assert all(len(real_ids(tok, s)) == 30 for s in samples)


def test_unique_prefix_shrinks_to_fit_tiny_prompts(tok):
    samples = RandomDataset(tok, input_len=1, unique_prefix=True).take(3)
    assert [len(real_ids(tok, s)) for s in samples] == [1, 1, 1]
    samples = RandomDataset(tok, input_len=3, unique_prefix=True).take(3)
    assert all(s.messages[0]["content"].startswith("Request") for s in samples)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_len": 0}, "input_len=0: accepted values are integers >= 1"),
        ({"input_len": -5}, "input_len=-5: accepted values are integers >= 1"),
        ({"output_len": 0}, "output_len=0: accepted values are integers >= 1"),
        ({"input_len": 10.5}, "input_len=10.5: accepted values are integers >= 1"),
        ({"range_ratio": 1.0}, r"range_ratio=1.0: accepted values are numbers in \[0, 1\)"),
        ({"range_ratio": -0.1}, r"range_ratio=-0.1: accepted values are numbers in \[0, 1\)"),
        ({"range_ratio": float("nan")}, r"range_ratio=nan: accepted values are numbers in \[0, 1\)"),
        ({"prefix_len": -1}, "prefix_len=-1: accepted values are integers >= 0"),
        ({"prefix_len": 8, "unique_prefix": True}, "unique_prefix=True with prefix_len=8: choose one"),
    ],
)
def test_bad_arguments_are_one_line_errors_naming_the_value(tok, kwargs, message):
    with pytest.raises(PayloadError, match=f"^{message}"):
        RandomDataset(tok, **kwargs)


def test_unique_prefixes_differ_across_differently_seeded_workers(tok):
    first = RandomDataset(tok, input_len=30, unique_prefix=True, seed=1).take(20)
    second = RandomDataset(tok, input_len=30, unique_prefix=True, seed=2).take(20)
    heads = {tuple(real_ids(tok, s)[:8]) for s in first + second}
    assert len(heads) == 40
