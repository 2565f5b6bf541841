"""Command-line helpers shared by the `images` scripts: one-line errors, exit code 2."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are a single line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_INPUT, f"{self.prog}: error: {message}\n")


def fail(error: Exception, prog: str | None = None) -> int:
    """Print `error` as one line on stderr and return the bad-input exit code."""
    name = prog or "images"
    print(f"{name}: error: {error}", file=sys.stderr)
    return BAD_INPUT
