"""The LLM CSV files beside Locust's own (``--csv PREFIX``): pure writers, no Locust.

- ``PREFIX_llm.csv``: one row per traffic class and one ``all`` row, with every figure of the
  summary that is a single value (counts, throughput, each latency statistic, goodput), in
  the summary's key order; written once, after the drain.
- ``PREFIX_llm_requests.csv``: one row per finished request (:data:`REQUEST_COLUMNS`),
  appended as requests are counted (on a master: as each worker's report brings them), so the
  file never waits in memory; complete once the drain has ended and the file is closed.
  Retried attempts are not rows (they are in ``--request-log``); a request is one row.

Workers always keep their rows (Locust does not send ``--csv`` to workers) and ship them with
each 3 s report: a row took 2.6 µs to build and 119 bytes of msgpack (measured with a
256-token request; 4.1 µs and 135 bytes with a server's 255 decode times to average and a
reasoning count), so a worker holds at most one report interval of them.
"""

from __future__ import annotations

import csv
from pathlib import Path

from streaming.record import RequestRecord

REQUEST_COLUMNS = (
    "class", "status", "error", "http_status", "wall_start", "ttft_ms", "ttfo_ms", "tpot_ms", "itl_mean_ms",
    "e2el_ms", "server_prefill_ms", "server_itl_mean_ms", "input_tokens", "output_tokens",
    "reasoning_tokens", "output_tokens_source", "images", "request_bytes", "response_bytes", "turn",
    "attempts", "request_id", "good",
)
"""``status`` is ok or failed (``error`` says why, ``cancelled: ...`` for the stop's); ``good`` is
1 or 0 against ``--goodput`` (empty without it). ``ttfo_ms``: time to the first answer token
(content or tool call), after any reasoning (``ttft_ms`` is the first token of any kind);
``reasoning_tokens``: of ``output_tokens``, the reasoning ones (empty when no reasoning arrived and
the server counted none); ``server_prefill_ms`` and ``server_itl_mean_ms``: the server's own time
to its first token and its mean gap between tokens (MindIE's ``prefill_time`` and
``decode_time_arr``). Each is empty when unknown."""


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 3)


def request_row(record: RequestRecord, good: bool | None) -> list:
    """One request's row: plain values, so a worker can ship it to the master as it is."""
    times = record.token_times
    itl = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None
    server_itl = server_itl_mean_ms(record)
    return [
        record.traffic_class, "ok" if record.ok else "failed", record.error or "", record.status or "",
        round(record.wall_start, 3), _ms(record.ttft), _ms(record.ttfo), _ms(record.tpot), _ms(itl),
        _ms(record.e2e), _ms(record.server_prefill), None if server_itl is None else round(server_itl, 3),
        record.input_tokens, record.output_tokens,
        record.reasoning_tokens if record.reasoning_tokens_source else None, record.output_tokens_source,
        record.images, record.request_bytes, record.response_bytes, record.turn, record.attempts,
        record.request_id, "" if good is None else int(good),
    ]


def server_itl_mean_ms(record: RequestRecord) -> float | None:
    """The mean of the server's own gaps between tokens (``decode_time_arr``, ms), or None."""
    gaps = record.server_decode_ms
    return sum(gaps) / len(gaps) if gaps else None


class RequestCsv:
    """``PREFIX_llm_requests.csv``, written a line at a time (line-buffered: what was counted is
    on disk even if the process is killed)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", newline="", buffering=1, encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(REQUEST_COLUMNS)
        self.rows = 0
        self.late = 0
        """Rows that came after :meth:`close` (not written)."""

    def write(self, row: list) -> None:
        """Append one row (none once closed: a worker's report after the summary comes too late)."""
        if self._file.closed:
            self.late += 1
            return
        self._writer.writerow(["" if v is None else v for v in row])
        self.rows += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def requests_path(prefix: str) -> Path:
    return Path(f"{prefix}_llm_requests.csv")


def summary_path(prefix: str) -> Path:
    return Path(f"{prefix}_llm.csv")


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, int | float | str)


def summary_rows(summary: dict) -> tuple[list[str], list[list]]:
    """Columns (``class``, then the scalar keys in the summary's order) and one row per class,
    then ``all``."""
    per_class = summary.get("per_class") or {}
    chosen = {**per_class, "all": summary}
    columns: list[str] = []
    for s in chosen.values():
        columns += [k for k, v in s.items() if _scalar(v) and k not in columns]
    rows = [[name, *("" if s.get(k) is None or not _scalar(s.get(k)) else s[k] for k in columns)]
            for name, s in chosen.items()]
    return ["class", *columns], rows


def write_summary_csv(summary: dict, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns, rows = summary_rows(summary)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
