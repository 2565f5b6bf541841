"""Write `payloads/corpus.txt`: readable English prose for exact-length prompts.

The text is the docstrings of a fixed list of CPython standard-library modules (Copyright Python Software
Foundation, PSF License Agreement, which allows redistribution). Paragraphs are unwrapped, kept only when
they are plain ASCII prose (no doctest lines, no special-token look-alikes), deduplicated, and written
in a fixed order until the size cap, so the file is reproducible for a given Python version.

    .venv/bin/python payloads/make_corpus.py [--out payloads/corpus.txt] [--max-bytes 300000]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

MODULES = (
    "argparse", "ast", "asyncio", "calendar", "collections", "configparser", "contextlib", "csv",
    "dataclasses", "datetime", "difflib", "email.message", "enum", "fractions", "functools", "gettext",
    "heapq", "http.client", "http.server", "imaplib", "inspect", "ipaddress", "json", "logging",
    "mailbox", "pathlib", "pickle", "pprint", "random", "shutil", "smtplib", "statistics", "string",
    "subprocess", "tarfile", "textwrap", "threading", "tkinter", "turtle", "typing", "unittest",
    "urllib.parse", "urllib.request", "uuid", "zipfile",
)
MIN_PARAGRAPH = 60


def docstrings(module_name: str) -> Iterator[str]:
    """The module's docstring, then those of its public classes, functions and methods."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return
    yield inspect.getdoc(module) or ""
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        yield inspect.getdoc(obj) or ""
        if inspect.isclass(obj):
            yield from (inspect.getdoc(member) or "" for _, member in sorted(vars(obj).items()))


def paragraphs(doc: str) -> Iterator[str]:
    """Unwrapped prose paragraphs of one docstring."""
    for block in doc.split("\n\n"):
        lines = [line.strip() for line in block.splitlines()]
        if any(line.startswith((">>>", "...", "$")) for line in lines):
            continue
        text = " ".join(line for line in lines if line)
        if len(text) >= MIN_PARAGRAPH and text.isascii() and text.isprintable() and "<|" not in text:
            yield text


def build(max_bytes: int) -> str:
    """Deduplicated paragraphs joined by blank lines, at most `max_bytes` long, a share per module."""
    seen: set[str] = set()
    out: list[str] = []
    size = 0
    share = 3 * max_bytes // len(MODULES)
    for module_name in MODULES:
        module_size = 0
        for para in (p for doc in docstrings(module_name) for p in paragraphs(doc)):
            if para in seen or module_size + len(para) > share:
                continue
            if size + len(para) > max_bytes:
                return "\n\n".join(out) + "\n"
            seen.add(para)
            out.append(para)
            module_size += len(para) + 2
            size += len(para) + 2
    return "\n\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("corpus.txt"))
    parser.add_argument("--max-bytes", type=int, default=300_000)
    args = parser.parse_args(argv)
    if args.max_bytes < 10_000:
        parser.error(f"--max-bytes {args.max_bytes}: too small; pass at least 10000")
    text = build(args.max_bytes)
    args.out.write_text(text, encoding="ascii")
    print(f"wrote {args.out}: {len(text)} bytes, {text.count(chr(10) * 2) + 1} paragraphs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
