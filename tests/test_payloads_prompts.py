"""Exact-length prompts: every prompt re-encodes (with the real tokenizer) to exactly the tokens asked."""

import random

import pytest

from payloads.errors import PayloadError
from payloads.prompts import PromptFactory, real_overhead
from payloads.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


@pytest.fixture(scope="module")
def factory(tok):
    return PromptFactory(tok, seed=7)


def real_ids(tok, text):
    """The tokenizer's own encoding, not the factory's helpers."""
    return tok(text, add_special_tokens=False)["input_ids"]


def spread_lengths(count, top=8192, seed=1):
    rng = random.Random(seed)
    return [1, 2, 3, 4, 5, 8, 16, 1024, top - 1, top] + [rng.randint(1, top) for _ in range(count)]


def test_default_factory_splices_corpus_windows(factory):
    assert factory.mode == "splice"


def test_lengths_spread_over_1_to_8192_are_each_exact(tok, factory):
    lengths = spread_lengths(290)
    for n in lengths:
        prompt = factory.make(n)
        assert prompt.tokens_requested == n
        assert prompt.tokens_made == n
        assert len(real_ids(tok, prompt.text)) == n, (n, prompt.text[:80])
    assert factory.stats.mismatches == 0


def test_template_overhead_matches_apply_chat_template(tok, factory):
    for n in spread_lengths(50, top=4096, seed=2):
        prompt = factory.make(n)
        assert prompt.template_overhead == real_overhead(tok, prompt.text), n
    assert prompt.template_overhead == 8  # Qwen3: <|im_start|>user\n ... <|im_end|>\n<|im_start|>assistant\n


def test_prefix_ids_start_every_prompt_and_count_in_its_length(tok, factory):
    prefix_ids = real_ids(tok, factory.make(64).text)
    for n in [65, 66, 70, 100, 1000, 3000]:
        prompt = factory.make(n, prefix_ids)
        ids = real_ids(tok, prompt.text)
        assert len(ids) == n == prompt.tokens_made
        assert ids[:64] == prefix_ids
        assert prompt.template_overhead == real_overhead(tok, prompt.text)


def test_same_seed_gives_same_prompts(tok):
    first, second = PromptFactory(tok, seed=3), PromptFactory(tok, seed=3)
    assert [first.make(n).text for n in (5, 50, 500)] == [second.make(n).text for n in (5, 50, 500)]
    assert PromptFactory(tok, seed=4).make(500).text != first.make(500).text


def test_prompts_are_readable_corpus_text(factory):
    text = factory.make(200).text
    assert text.isascii() and text[0].isalnum()
    assert sum(ch.isalpha() or ch == " " for ch in text) > 0.7 * len(text)


def test_strict_mode_reencodes_whole_prompts_and_is_exact(tok):
    strict = PromptFactory(tok, seed=5, strict=True)
    assert (strict.mode, strict.mode_reason) == ("reencode", "strict=True")
    for n in spread_lengths(20, top=3000, seed=3):
        prompt = strict.make(n)
        assert len(real_ids(tok, prompt.text)) == n == prompt.tokens_made
        assert prompt.template_overhead == real_overhead(tok, prompt.text)
    assert strict.stats.reencoded == strict.stats.prompts


def test_random_ids_mode_makes_exact_noise(tok):
    noisy = PromptFactory(tok, seed=6, random_ids=True)
    assert noisy.mode == "reencode"
    for n in [1, 2, 7, 100, 1500]:
        prompt = noisy.make(n)
        assert len(real_ids(tok, prompt.text)) == n == prompt.tokens_made
    assert noisy.stats.mismatches == 0


def test_non_ascii_corpus_falls_back_to_reencoding_and_stays_exact(tok):
    corpus = "Größe und Maß, naïve café; 東京は大きい都市です。 " * 200
    factory = PromptFactory(tok, seed=1, corpus=corpus)
    assert (factory.mode, factory.mode_reason) == ("reencode", "corpus is not ASCII")
    for n in [1, 3, 40, 333]:
        assert len(real_ids(tok, factory.make(n).text)) == n


def test_prompt_longer_than_the_corpus_is_still_exact(tok):
    factory = PromptFactory(tok, seed=2)
    prompt = factory.make(70_000)
    assert len(real_ids(tok, prompt.text)) == 70_000 == prompt.tokens_made


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True, None])
def test_bad_length_is_a_one_line_error_naming_it(factory, bad):
    with pytest.raises(PayloadError, match=r"^n_tokens=.*: accepted values are integers >= 1$"):
        factory.make(bad)


def test_length_not_above_prefix_is_refused(tok, factory):
    prefix_ids = real_ids(tok, factory.make(10).text)
    with pytest.raises(PayloadError, match="n_tokens=10: must exceed the prefix's 10 tokens"):
        factory.make(10, prefix_ids)


def test_prefix_ids_that_do_not_survive_decoding_are_refused(factory):
    with pytest.raises(PayloadError, match="^prefix_ids: these 2 ids do not encode back"):
        factory.make(20, [151644, 9707])  # <|im_start|> is dropped when decoding
