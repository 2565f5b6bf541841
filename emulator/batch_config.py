"""The emulator's Batch API knobs: how long each state takes, and which batches fail or expire."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """Timing and outcomes of the in-memory Batch API (see ``python -m emulator --help``)."""

    validate_ms: float = 100.0
    """Time a batch spends ``validating``."""
    line_ms: float = 5.0
    """Time each line takes ``in_progress`` (lines run one after another)."""
    finalize_ms: float = 50.0
    """Time a batch spends ``finalizing``."""
    cancel_ms: float = 50.0
    """Time from ``cancelling`` to ``cancelled``."""
    fail_rate: float = 0.0
    """Share of batches that fail validation, spread evenly (0.25: every 4th)."""
    expire_rate: float = 0.0
    """Share of batches that expire once half their lines are done, spread evenly."""
    line_error_rate: float = 0.0
    """Share of lines answered with a 500 error, spread evenly."""
    window_s: float = 0.0
    """Seconds every completion window lasts (0: as asked, ``24h`` = 86,400 s)."""


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--batch-*`` options (their bad values are argparse errors: one line)."""
    group = parser.add_argument_group("Batch API", "POST /v1/files, /v1/batches (create, get, list, cancel)")
    for flag, default, about in (
        ("--batch-validate-ms", 100.0, "time a batch spends validating"),
        ("--batch-line-ms", 5.0, "time each line takes in_progress (one line at a time)"),
        ("--batch-finalize-ms", 50.0, "time a batch spends finalizing"),
        ("--batch-cancel-ms", 50.0, "time from cancelling to cancelled"),
        ("--batch-window-s", 0.0, "every completion window lasts this long (0 = as asked)"),
    ):
        group.add_argument(flag, type=_number, default=default, help=about)
    for flag, about in (
        ("--batch-fail-rate", "share of batches failing validation (evenly spread)"),
        ("--batch-expire-rate", "share of batches expiring half-way (evenly spread)"),
        ("--batch-line-error-rate", "share of lines answered 500 (evenly spread)"),
    ):
        group.add_argument(flag, type=_share, default=0.0, help=about)


def batch_config(ns: argparse.Namespace) -> BatchConfig:
    return BatchConfig(
        validate_ms=ns.batch_validate_ms, line_ms=ns.batch_line_ms, finalize_ms=ns.batch_finalize_ms,
        cancel_ms=ns.batch_cancel_ms, fail_rate=ns.batch_fail_rate, expire_rate=ns.batch_expire_rate,
        line_error_rate=ns.batch_line_error_rate, window_s=ns.batch_window_s,
    )


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is invalid; accepted: a finite number >= 0")
    return value


def _share(text: str) -> float:
    value = _number(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text} is out of range; accepted: 0..1")
    return value
