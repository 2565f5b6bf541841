"""The per-request log: one JSONL line per request, written and flushed as each one ends.

Lines take the shape of an OpenAI Batch output line (``id``, ``custom_id``,
``response: {status_code, request_id, body}``, ``error``) with the measurements added, so
a crash keeps every line written before it. The API key is never in a record, so never here.

Beside TTFT, ``ttfo_ms`` is the time to the first answer token (after any reasoning);
``reasoning_tokens`` (of ``output_tokens``) and ``reasoning_tokens_source`` are null when no
reasoning arrived and the server counted none; ``server_prefill_ms`` and ``server_itl_ms_mean``
are the server's own timings (MindIE's ``prefill_time`` and the mean of its ``decode_time_arr``),
null when it sent none.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from reports.csv import server_itl_mean_ms
from streaming.record import RequestRecord


def log_line(record: RequestRecord, number: int, retried: bool = False, prefix: str = "req_") -> dict:
    """The log entry for one finished request (or, ``retried``, for an attempt sent again)."""
    itls = record.itls()
    ttft, tpot, ttfo = record.ttft, record.tpot, record.ttfo
    reasoned = bool(record.reasoning_tokens_source)
    body = {"finish_reason": record.finish_reason, "usage": record.usage} if record.status == 200 else None
    return {
        "id": f"{prefix}{number:08d}",
        "custom_id": record.custom_id or None,
        "response": {"status_code": record.status or None, "request_id": record.request_id or None,
                     "body": body},
        "error": None if record.ok else {"code": record.error.split(":", 1)[0], "message": record.error},
        "traffic_class": record.traffic_class,
        "turn": record.turn,
        "images": record.images,
        "attempt": record.attempts,
        "retried": retried,
        "resent": record.resent,
        "wall_start": record.wall_start,
        "ttft_ms": ttft * 1e3 if ttft is not None else None,
        "ttfo_ms": ttfo * 1e3 if ttfo is not None else None,
        "e2e_ms": record.e2e * 1e3,
        "tpot_ms": tpot * 1e3 if tpot is not None else None,
        "itl_ms_mean": sum(itls) / len(itls) * 1e3 if itls else None,
        "server_prefill_ms": record.server_prefill_ms,
        "server_itl_ms_mean": server_itl_mean_ms(record),
        "token_chunks": len(record.token_times),
        "payload_tokens": record.payload_tokens,
        "template_overhead": record.template_overhead,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "output_tokens_source": record.output_tokens_source,
        "reasoning_tokens": record.reasoning_tokens if reasoned else None,
        "reasoning_tokens_source": record.reasoning_tokens_source or None,
        "request_bytes": record.request_bytes,
        "response_bytes": record.response_bytes,
    }


def open_request_log(path: str | Path, worker: int | None = None) -> RequestLog:
    """The log of this process: ``path`` itself, or on worker N of a distributed run its own
    file ``<stem>.worker<N><suffix>`` beside it, with ids ``req_w<N>_...``, unique across the
    run (several processes appending to one file would interleave lines and repeat ids)."""
    if worker is None:
        return RequestLog(path)
    path = Path(path)
    return RequestLog(path.with_name(f"{path.stem}.worker{worker}{path.suffix}"), prefix=f"req_w{worker}_")


class RequestLog:
    """Appends one line per request to ``path`` (created with its folder), flushed each time."""

    def __init__(self, path: str | Path, prefix: str = "req_") -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("ab", buffering=0)
        self._prefix = prefix
        self._count = 0

    def write(self, record: RequestRecord, retried: bool = False) -> None:
        self._count += 1
        self._file.write(orjson.dumps(log_line(record, self._count, retried, self._prefix)) + b"\n")

    def close(self) -> None:
        self._file.close()
