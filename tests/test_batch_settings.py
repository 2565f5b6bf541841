"""The batch options become Settings.batch, each bad value one line naming it and what is accepted."""

from __future__ import annotations

import argparse

import pytest

from batch.options import BatchOptions
from conf.settings import SettingsError, from_options


def settings(**options):
    return from_options(argparse.Namespace(host="http://127.0.0.1:8000", **options), environ={})


def test_the_defaults_come_from_the_option_table():
    assert settings().batch == BatchOptions(lines=100, window="24h", poll_interval=5.0, poll_max=60.0,
                                            cancel_share=0.0, images="none")


@pytest.mark.parametrize(("options", "message"), [
    ({"batch_lines": 50_001}, "--batch-lines 50001: the Batch API takes at most 50,000 lines a file"),
    ({"batch_lines": 0}, "--batch-lines 0 sends every --dataset line once: pass --dataset FILE or a count"),
    ({"batch_lines": -1}, "--batch-lines -1: expected a value >= 0"),
    ({"batch_window": "24"}, "--batch-window '24': expected whole hours or days (24h, 7d)"),
    ({"batch_poll_interval": 0}, "--batch-poll-interval 0: expected a value > 0"),
    ({"batch_poll_interval": 10.0, "batch_poll_max": 5.0},
     "--batch-poll-max 5: expected at least the --batch-poll-interval 10"),
    ({"batch_cancel_share": 1.5}, "--batch-cancel-share 1.5: expected a share in [0, 1]"),
    ({"batch_images": "base64", "endpoint": "completions"},
     "--batch-images base64: only /v1/chat/completions takes images (--endpoint chat)"),
])
def test_a_bad_batch_option_is_one_line(options, message):
    with pytest.raises(SettingsError) as info:
        settings(**options)
    assert str(info.value) == message


def test_the_whole_dataset_once_and_a_week_long_window_are_accepted():
    batch = settings(batch_lines=0, dataset="payloads/samples/batch.jsonl", batch_window="7d").batch
    assert (batch.lines, batch.window) == (0, "7d")
