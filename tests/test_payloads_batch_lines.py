"""Batch input lines from the payload factory: whole answers, unique custom_ids, images attached."""

from __future__ import annotations

import itertools

from payloads.batch_lines import batch_lines
from payloads.request import SampleRequest


def samples(*ids: str | None):
    cycle = itertools.cycle(ids)
    return lambda: SampleRequest([{"role": "user", "content": "hi"}], 1, 8, 16, next(cycle))


def body_for(sample: SampleRequest) -> dict:
    return sample.to_body(model="m", stream=True, include_usage=True)


def test_lines_are_not_streamed_and_keep_the_other_body_fields():
    [(custom_id, body)] = list(batch_lines(1, samples(None), body_for, tag="7"))
    assert custom_id == "7-0"
    assert body == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}


def test_a_dataset_custom_id_is_kept_while_it_is_unique_in_the_file():
    ids = [custom_id for custom_id, _ in batch_lines(5, samples("a", "b"), body_for, tag="3")]
    assert ids == ["a", "b", "3-2", "3-3", "3-4"]


def test_images_go_to_the_last_user_message_after_its_text():
    refs = iter([["data:image/png;base64,AAA"], ["http://127.0.0.1/x.png", "http://127.0.0.1/y.png"]])
    lines = list(batch_lines(2, samples(None), body_for, lambda: next(refs)))
    first = lines[0][1]["messages"][0]["content"]
    assert first == [{"type": "text", "text": "hi"},
                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]
    assert len(lines[1][1]["messages"][0]["content"]) == 3
