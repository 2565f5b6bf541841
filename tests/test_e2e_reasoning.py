"""Server-side timings, reasoning models and request features through the whole tool, against the
emulator's plan."""

import json

import pytest

from emulator.launch import start_emulator

from locust_run import read_jsonl, run_locust

pytestmark = pytest.mark.load
SHORT = ("-u", "4", "-r", "4", "-t", "3s", "--input-len", "32", "TextChatUser")


def test_a_mindie_style_run_shows_server_prefill_beside_client_ttft(tmp_path):
    """The server says 80 ms to its first token and 5 ms a token; the client sees a little more:
    the network and the server's event loop before its clock starts."""
    requests = tmp_path / "requests.jsonl"
    with start_emulator("--ttft-ms", "80", "--itl-ms", "5", "--mindie") as emu:
        proc, summary = run_locust(emu.url, tmp_path, "--max-tokens", "16", "--request-log", str(requests),
                                   "--extra-body", '{"fullTextEnabled": true}', *SHORT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = summary["completed"]
    assert done >= 8 and summary["failed"] == 0
    assert summary["count_server_prefill"] == summary["count_ttft"] == done
    assert summary["mean_server_prefill_ms"] == pytest.approx(80.0)
    assert summary["p99_server_prefill_ms"] == pytest.approx(80.0, rel=2e-3)
    assert summary["mean_ttft_ms"] > summary["mean_server_prefill_ms"]
    assert 0 < summary["mean_ttft_minus_server_prefill_ms"] < 10, summary["mean_ttft_minus_server_prefill_ms"]
    assert summary["mean_ttft_minus_server_prefill_ms"] == pytest.approx(
        summary["mean_ttft_ms"] - summary["mean_server_prefill_ms"])
    assert summary["mean_server_itl_ms"] == pytest.approx(5.0) and summary["count_server_itl"] == 15 * done
    assert summary["mean_itl_ms"] == pytest.approx(5.0, abs=1.0)
    assert (summary["full_text_checked"], summary["full_text_differs"]) == (done, 0)
    table = proc.stdout
    assert "Server prefill" in table and "TTFT - server" in table and "Server ITL" in table
    lines = read_jsonl(requests)
    assert len(lines) == done
    assert {(r["server_prefill_ms"], r["server_itl_ms_mean"]) for r in lines} == {(80.0, 5.0)}


def test_a_reasoning_run_shows_both_first_token_times_and_both_token_counts(tmp_path):
    """6 reasoning tokens, then 10 answer tokens: the first token at 60 ms, the first answer
    token 6 gaps of 4 ms later."""
    log = tmp_path / "emulator.jsonl"
    args = ("--ttft-ms", "60", "--itl-ms", "4", "--reasoning-tokens", "6", "--log", str(log))
    requests = tmp_path / "requests.jsonl"
    with start_emulator(*args) as emu:
        proc, summary = run_locust(emu.url, tmp_path, "--max-tokens", "16", "--request-log", str(requests),
                                   *SHORT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = summary["completed"]
    served = [r for r in read_jsonl(log) if r["outcome"] == "ok"]
    assert done == len(served) >= 8 and summary["failed"] == 0
    counts = [summary[f"total_{kind}_tokens"] for kind in ("output", "reasoning", "answer")]
    assert counts == [16 * done, 6 * done, 10 * done]
    assert summary["reasoning_tokens_source"] == {"usage": done}
    planned_ttfo = sum(r["ttfo_ms"] for r in served) / len(served)
    assert planned_ttfo == pytest.approx(60 + 6 * 4)
    assert summary["mean_ttft_ms"] == pytest.approx(60, abs=8)
    assert summary["mean_ttfo_ms"] == pytest.approx(planned_ttfo, abs=8)
    assert summary["mean_ttfo_ms"] - summary["mean_ttft_ms"] == pytest.approx(6 * 4, abs=3)
    assert summary["count_ttfo"] == done and "TTFO (answer)" in proc.stdout
    lines = read_jsonl(requests)
    assert {(r["reasoning_tokens"], r["reasoning_tokens_source"]) for r in lines} == {(6, "usage")}
    assert sum(r["ttfo_ms"] for r in lines) / len(lines) == pytest.approx(summary["mean_ttfo_ms"])


def test_without_usage_reasoning_tokens_are_recounted_by_the_tokenizer(tmp_path):
    with start_emulator("--ttft-ms", "0", "--itl-ms", "1", "--reasoning-tokens", "5",
                        "--reasoning-field", "reasoning", "--usage-mode", "never") as emu:
        proc, summary = run_locust(emu.url, tmp_path, "--max-tokens", "12", "--no-include-usage", *SHORT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = summary["completed"]
    assert done >= 8 and summary["reasoning_tokens_source"] == {"tokenizer": done}
    assert (summary["total_reasoning_tokens"], summary["total_output_tokens"]) == (5 * done, 12 * done)


def test_streamed_tool_calls_are_counted_as_output(tmp_path):
    """A required tool: the answer is its call, streamed as tool_calls deltas (name, arguments)."""
    log = tmp_path / "emulator.jsonl"
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    with start_emulator("--ttft-ms", "0", "--itl-ms", "1", "--log", str(log)) as emu:
        proc, summary = run_locust(emu.url, tmp_path, "--max-tokens", "8", "--tools", json.dumps([tool]),
                                   "--tool-choice", "required", *SHORT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = [r for r in read_jsonl(log) if r["outcome"] == "ok"]
    assert summary["completed"] == len(served) >= 8 and summary["failed"] == 0
    assert {r["finish_reason"] for r in served} == {"tool_calls"}
    assert summary["total_output_tokens"] == sum(r["completion_tokens"] for r in served)
    assert summary["count_ttft"] == summary["count_ttfo"] == summary["completed"]


def test_request_features_reach_the_server_as_sent(tmp_path):
    """n, seed, stop, JSON mode and reasoning effort: two choices of 8 tokens each are counted."""
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "0", "--itl-ms", "1", "--log", str(log)) as emu:
        proc, summary = run_locust(emu.url, tmp_path, "--max-tokens", "8", "--n", "2", "--sampling-seed", "3",
                                   "--stop", " zzz", "--response-format", "json_object",
                                   "--reasoning-effort", "low", *SHORT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [r for r in read_jsonl(log) if r["outcome"] == "ok"]
    assert summary["completed"] == len(lines) >= 8 and summary["total_output_tokens"] == 16 * len(lines)
    assert {r["choices"] for r in lines} == {2}
    for name in ("n", "seed", "stop", "response_format", "reasoning_effort"):
        assert all(name in r["features"] for r in lines), name
