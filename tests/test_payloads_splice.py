"""Splice counting: joined spans count exactly what the real tokenizer makes of their concatenation."""

import itertools
import random

import pytest

from payloads import prompts
from payloads.prompts import PromptFactory, template_wrap
from payloads.splice import Span, joined_length, piece_starts_at
from payloads.tokenizer import backend_of, load_tokenizer

LEFT_ENDS = ["it", "done.", "rock", "x =", "  ", "end\n", "12", "(a, b", "don", "'", "word "]
RIGHT_STARTS = ["'s fine", "s and more", " next", "\n\nPara", "345 six", ".'t", "  indented", "n't", "ly so"]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


@pytest.fixture(scope="module")
def splicer(tok):
    return prompts._Splicer(backend_of(tok), "filler " * 300)


def encode(tok):
    return lambda text: backend_of(tok).encode(text, add_special_tokens=False)


def test_awkward_junctions_count_like_the_real_tokenizer(tok, splicer):
    body = " the quick brown fox jumps over the lazy dog, then naps. It's 42 degrees."
    for left, right in itertools.product(LEFT_ENDS, RIGHT_STARTS):
        spans = [splicer.text_span("Some words " + left), splicer.text_span(right + body)]
        real = tok("".join(span.text for span in spans), add_special_tokens=False)["input_ids"]
        assert joined_length(encode(tok), spans).length == len(real), (left, right)


def test_template_wrapped_spans_count_like_apply_chat_template(tok, splicer):
    before, after = template_wrap(tok)
    rng = random.Random(4)
    for right in RIGHT_STARTS:
        content = right + " and then " + "".join(rng.choice("ab .,'\n") for _ in range(40)) + " end."
        spans = [Span(before), splicer.text_span(content), Span(after)]
        rendered = tok.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
        assert joined_length(encode(tok), spans).length == len(rendered["input_ids"])


def test_span_without_cuts_is_reencoded_whole(tok):
    joined = joined_length(encode(tok), [Span("abc"), Span("def ghi")])
    assert joined.length == len(tok("abcdef ghi", add_special_tokens=False)["input_ids"])
    assert len(joined.junctions) == 1


def test_self_check_falls_back_to_reencoding_when_splicing_miscounts(tok, monkeypatch):
    real_count = prompts._Splicer.count

    def off_by_one(self, spans):
        joined = real_count(self, spans)
        return type(joined)(joined.length + 1, joined.junctions)

    monkeypatch.setattr(prompts._Splicer, "count", off_by_one)
    factory = PromptFactory(tok, seed=1)
    assert factory.mode == "reencode"
    assert factory.mode_reason.startswith("splice self-check failed")
    prompt = factory.make(123)
    assert len(tok(prompt.text, add_special_tokens=False)["input_ids"]) == 123


def test_piece_start_detection_sees_a_merged_junction(tok):
    hello = encode(tok)("Hello world")
    assert [piece_starts_at(hello, c) for c in (0, 3, 5, 6)] == [True, False, True, False]
    # alone, "'sfoo" starts pieces at 0 ("'s") and 2 ("foo"); after "." the scan reads ".'" then "sfoo"
    assert piece_starts_at(encode(tok)("'sfoo bar"), 2)
    assert not piece_starts_at(encode(tok)(".'sfoo bar"), 3)
