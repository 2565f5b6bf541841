"""Every fault kind is produced, looks as documented on the wire, and is logged under its name."""

import asyncio
import json
import time

import orjson
import pytest

from emulator.config import FAULTS
from emulator.launch import start_emulator
from emulator.probe import Exchange, post

BODY = {"messages": [{"role": "user", "content": "Tell me about faults."}], "max_tokens": 6,
        "stream_options": {"include_usage": True}}


def _decoded(ex: Exchange) -> list:
    out = []
    for _, data in ex.events():
        try:
            out.append(data.decode() if data == b"[DONE]" else orjson.loads(data))
        except orjson.JSONDecodeError:
            out.append(None)  # a malformed event
    return out


def _finishes(events: list) -> list:
    return [e for e in events if isinstance(e, dict) and e.get("choices")
            and e["choices"][0].get("finish_reason")]


def _contents(events: list) -> list:
    return [e for e in events if isinstance(e, dict) and e.get("choices")
            and e["choices"][0]["delta"].get("content")]


def _max_gap_s(ex: Exchange) -> float:
    times = [ex.t_sent] + [t for t, _ in ex.reads]
    return max(b - a for a, b in zip(times, times[1:], strict=False))


STREAM_CHECKS = {
    "http500": lambda ex, ev: ex.status == 500 and ex.json()["error"]["type"] == "InternalServerError",
    "http429": lambda ex, ev: ex.status == 429 and ex.headers["retry-after"] == "1",
    "http503": lambda ex, ev: ex.status == 503 and ex.headers["retry-after"] == "1",
    "cut": lambda ex, ev: not ex.complete and len(_contents(ev)) == 3 and "[DONE]" not in ev,
    "malformed": lambda ex, ev: ev.count(None) == 1 and ev[-1] == "[DONE]",
    "stall": lambda ex, ev: _max_gap_s(ex) >= 0.25 and ev[-1] == "[DONE]",
    "no_done": lambda ex, ev: ex.complete and ev[-1] != "[DONE]" and len(_finishes(ev)) == 1,
    "no_finish": lambda ex, ev: ev[-1] == "[DONE]" and not _finishes(ev) and len(_contents(ev)) == 6,
    "error_in_stream": lambda ex, ev: ex.complete and isinstance(ev[-1].get("error"), dict)
    and "[DONE]" not in ev,
    "empty_choices": lambda ex, ev: not _contents(ev)
    and sum(1 for e in ev if isinstance(e, dict) and e["choices"] == []) == 7,
}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    log = tmp_path_factory.mktemp("faults") / "log.jsonl"
    rates = [arg for name in FAULTS for arg in ("--fault", f"{name}=0.1")]
    args = ("--ttft-ms", "0", "--itl-ms", "0", "--stall-s", "0.3", "--log", str(log), *rates)
    with start_emulator(*args) as emu:
        emu.log = log
        yield emu


def _next_record(log, before: int) -> dict:
    """The log line after the first `before` ones; the server writes it as its handler ends."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines()
        if len(lines) > before:
            return json.loads(lines[before])
        time.sleep(0.01)
    raise AssertionError("the emulator logged no line for the request")


def _collect(url: str, log, stream: bool, wanted: set[str], limit: int) -> dict[str, tuple[Exchange, dict]]:
    """Send requests one at a time until every wanted outcome was seen: {outcome: (exchange, record)}."""
    seen: dict[str, tuple[Exchange, dict]] = {}
    for _ in range(limit):
        before = len(log.read_text().splitlines())
        ex = asyncio.run(post(url, "/v1/chat/completions", {**BODY, "stream": stream}))
        record = _next_record(log, before)
        assert ex.headers.get("x-request-id", record["request_id"]) == record["request_id"]
        seen.setdefault(record["outcome"], (ex, record))
        if wanted <= seen.keys():
            break
    return seen


def test_each_stream_fault_is_produced_as_documented_and_logged(faulty):
    seen = _collect(faulty.url, faulty.log, True, set(FAULTS), limit=200)
    assert set(seen) == set(FAULTS)
    for name, (ex, record) in seen.items():
        assert STREAM_CHECKS[name](ex, _decoded(ex)), name
        assert record["stream"] is True
    assert seen["cut"][1]["completion_tokens"] == 3


def test_non_streamed_requests_show_body_faults(faulty):
    seen = _collect(faulty.url, faulty.log, False, {"cut", "malformed", "http503", "ok"}, limit=200)
    cut, _ = seen["cut"]
    assert cut.status == 0 and not cut.complete
    malformed, _ = seen["malformed"]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(malformed.body)
    assert seen["http503"][0].status == 503
    assert seen["ok"][0].json()["usage"]["completion_tokens"] == 6  # stream-only faults leave bodies intact
