"""The server's prompt counts against the client's plan: mismatches said, ignored images flagged."""

import logging

import msgpack

from metrics.collector import LlmMetrics
from metrics.prompt_check import PromptWarnings
from metrics.report import format_table, summarize
from streaming.record import RequestRecord


def answered(cls: str, planned: int, server: int | None, images: int = 0, overhead: int = 8) -> RequestRecord:
    r = RequestRecord(cls, t_start=1.0, wall_start=1000.0, payload_tokens=planned, template_overhead=overhead,
                      images=images, t_end=1.2)
    r.token_times.extend([1.1, 1.2])
    r.t_first, r.output_tokens, r.output_tokens_source = 1.1, 2, "usage"
    r.usage = {"completion_tokens": 2}
    if server is not None:
        r.usage["prompt_tokens"] = server
    r.input_tokens = server if server is not None else planned
    return r


def shipped(metrics: LlmMetrics) -> LlmMetrics:
    return LlmMetrics.from_dict(msgpack.unpackb(msgpack.packb(metrics.to_dict()), strict_map_key=False))


def test_a_server_counting_another_template_is_reported_with_both_numbers_and_its_count_kept():
    metrics = LlmMetrics()
    for _ in range(3):
        metrics.add(answered("text", planned=72, server=83))
    metrics.add(answered("text", planned=72, server=None))  # no usage: nothing to compare
    s = summarize(shipped(metrics))
    assert s["total_input_tokens"] == 3 * 83 + 72  # the server's count where it sent one
    assert (s["prompt_tokens_checked"], s["prompt_tokens_differ"]) == (3, 3)
    assert s["prompt_tokens_example"] == [72, 83]
    table = format_table(s)
    assert "differs from the plan in 3 of 3 text requests (e.g. 83 vs 72 planned)" in table
    assert "--tokenizer" in table


def test_matching_counts_say_nothing():
    metrics = LlmMetrics()
    metrics.add(answered("text", planned=72, server=72))
    metrics.add(answered("base64", planned=72, server=72 + 261, images=1))
    s = summarize(metrics)
    assert s["prompt_tokens_differ"] == 0 and s["images_ignored"] == 0
    assert "Prompt tokens:" not in format_table(s) and "ignored the images" not in format_table(s)


def test_image_requests_counted_as_their_text_alone_are_flagged_per_class():
    metrics = LlmMetrics()
    for _ in range(2):
        metrics.add(answered("base64", planned=72, server=72, images=1))
    metrics.add(answered("image-url", planned=72, server=72 + 261, images=1))
    s = summarize(shipped(metrics))
    assert s["per_class"]["base64"]["images_ignored"] == 2
    assert s["per_class"]["image-url"]["images_ignored"] == 0 and s["images_ignored"] == 2
    line = "Server ignored the images (prompt tokens not above the text alone): base64 2 of 2"
    assert line in format_table(s)


def test_ignored_images_are_told_apart_from_a_template_difference_by_the_text_requests():
    """A server whose template adds 11 tokens: an image request at +11 had its images ignored,
    one at +11 + 261 did not."""
    metrics = LlmMetrics()
    metrics.add(answered("text", planned=72, server=83))
    metrics.add(answered("base64", planned=72, server=83, images=1))
    metrics.add(answered("image-url", planned=72, server=83 + 261, images=1))
    s = summarize(metrics)
    assert s["per_class"]["base64"]["images_ignored"] == 1
    assert s["per_class"]["image-url"]["images_ignored"] == 0


def test_warnings_are_logged_once_each(caplog):
    warnings = PromptWarnings()
    with caplog.at_level(logging.WARNING, logger="llm"):
        for _ in range(5):
            warnings.see(answered("text", planned=72, server=83))
            warnings.see(answered("base64", planned=72, server=83, images=1))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "counted 83 prompt tokens where the client planned 72 (64 content + 8 chat template" in messages[0]
    assert "--tokenizer" in messages[0]
    assert "ignores the images" in messages[1]


def test_failed_requests_and_unknown_plans_are_not_compared(caplog):
    warnings = PromptWarnings()
    failed = answered("text", planned=72, server=83)
    failed.error = "HTTP 500"
    unplanned = answered("multi-turn", planned=0, server=500)
    with caplog.at_level(logging.WARNING, logger="llm"):
        warnings.see(failed)
        warnings.see(unplanned)
    assert not caplog.records
    metrics = LlmMetrics()
    metrics.add(failed)
    metrics.add(unplanned)
    assert summarize(metrics)["prompt_tokens_checked"] == 0
