"""Locust's own report files, written again after the drain with the LLM parts: the one module of
``reports/`` that calls Locust (its public ``locust.html`` and ``locust.stats`` API).

Locust writes ``--html`` when its main greenlet ends: after the drain on ``-t`` (which happens
inside the runner's quit), but on Ctrl-C before it, and on SIGTERM not at all; its ``--csv``
files are rewritten every 2 s by a greenlet, so the last requests (those that finished in the
drain) were missing from ``PREFIX_stats.csv`` (8 of 16 in a measured 4 s run of 8 users). The
report has no extension hook. So when the process quits, after the drain and after the summary,
:func:`write_reports` renders Locust's report again with ``locust.html.get_html_report`` and puts
the LLM section after Locust's own content, writes Locust's request, failure and exception CSVs
again with ``locust.stats.StatsCSV`` (each to a new file moved into place, so Locust's own writer,
still holding the old file, cannot interleave with it), and writes ``PREFIX_llm.csv``.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable
from pathlib import Path

from locust.env import Environment
from locust.html import get_html_report, process_html_filename
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from reports.csv import summary_path, write_summary_csv
from reports.html import inject, llm_section

log = logging.getLogger("llm")


def write_reports(environment: Environment, summary: dict) -> list[str]:
    """Write ``--html`` and ``--csv`` files with the LLM parts; returns what was written."""
    options = environment.parsed_options
    written = []
    prefix = getattr(options, "csv_prefix", None)
    if prefix:
        write_locust_csvs(environment, prefix)
        write_summary_csv(summary, summary_path(prefix))
        written.append(str(summary_path(prefix)))
    if getattr(options, "html_file", None):
        written.append(write_html(environment, summary))
    return written


def write_html(environment: Environment, summary: dict) -> str:
    """Locust's report rendered now (its figures final), with the LLM section after its content."""
    options = environment.parsed_options
    process_html_filename(options)  # {u}, {r}, {t} in the name, as Locust does (idempotent)
    report = inject(get_html_report(environment, show_download_link=False), llm_section(summary))
    path = Path(options.html_file)
    _replace(path, lambda f: f.write(report))
    return str(path)


def write_locust_csvs(environment: Environment, prefix: str) -> None:
    """``PREFIX_stats.csv``, ``_failures.csv`` and ``_exceptions.csv`` from Locust's final stats."""
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for suffix, write in (("stats", writer.requests_csv), ("failures", writer.failures_csv),
                          ("exceptions", writer.exceptions_csv)):
        _replace(Path(f"{prefix}_{suffix}.csv"), lambda f, write=write: write(csv.writer(f)))


def _replace(path: Path, write: Callable) -> None:
    """Write a new file beside ``path`` and move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        write(f)
    os.replace(tmp, path)
