"""Master and workers: the master's summary counts every request the workers sent, even the last."""

import re
import signal
import socket
import time

import pytest

from emulator.launch import start_emulator

from locust_run import LOCUST, output, read_jsonl, read_summary, run_locust, start_locust, wait_for_lines

pytestmark = pytest.mark.load


def test_master_summary_includes_the_workers_last_requests(tmp_path):
    log = tmp_path / "emulator.jsonl"
    # 2 s streams: at the stop every user is mid-stream, the case a plain master loses
    with start_emulator("--ttft-ms", "50", "--itl-ms", "20", "--log", str(log)) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "8", "-r", "8", "-t", "7s", "--max-tokens", "100",
            "--processes", "2", "TextChatUser",
        )
        time.sleep(0.5)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = read_jsonl(log)
    assert summary["completed"] == len(served) >= 16 and summary["failed"] == 0
    assert summary["count_ttft"] == len(served)
    assert summary["count_itl"] == 99 * len(served)
    assert summary["mean_itl_ms"] == pytest.approx(20, abs=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(tmp_path, url, *master_args, workers=2, expect=None):
    """A headless master and worker processes started the way a pod starts them: only
    ``--worker --master-host`` (every other setting comes from the master)."""
    port = free_port()
    master = start_locust(
        [*LOCUST, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--headless", "--expect-workers", str(expect or workers), "--host", url,
         "--summary-json", str(tmp_path / "summary.json"), "--only-summary", *master_args],
        tmp_path, "master",
    )
    pods = [start_locust([*LOCUST, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                         tmp_path, f"worker{i}") for i in range(workers)]
    return master, pods


def test_workers_given_only_the_masters_address_run_the_masters_settings(tmp_path):
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "20", "--itl-ms", "5", "--log", str(log)) as emulator:
        master, pods = start_cluster(tmp_path, emulator.url, "-u", "8", "-r", "8", "-t", "6s",
                                     "--max-tokens", "40", "--input-len", "64",
                                     "--request-log", str(tmp_path / "requests.jsonl"), "TextChatUser")
        code = master.wait(timeout=120)
        for pod in pods:
            pod.wait(timeout=30)
        time.sleep(0.3)
    master_err = output(tmp_path, "master")[1]
    assert code == 0, master_err[-3000:]
    served = read_jsonl(log)
    summary = read_summary(tmp_path)
    assert summary["completed"] == len(served) > 16 and summary["failed"] == 0
    assert summary["total_output_tokens"] == sum(r["completion_tokens"] for r in served)
    assert summary["model"] == "emulator" and summary["workers_reported"] == 2
    assert {r["completion_tokens"] for r in served} == {40}  # the master's --max-tokens, not a default
    for i, _ in enumerate(pods):
        assert "error" not in output(tmp_path, f"worker{i}")[1].lower()
    # one request log per worker, ids unique across the run, together one line per request
    logs = sorted(tmp_path.glob("requests.worker*.jsonl"))
    ids = [line["id"] for path in logs for line in read_jsonl(path)]
    assert len(logs) == 2 and len(ids) == len(set(ids)) == len(served)
    # every worker sends different prompts (seeds offset by the worker index)
    assert len({r["id"] for r in read_jsonl(logs[0])} & {r["id"] for r in read_jsonl(logs[1])}) == 0


def test_a_worker_building_a_large_image_pool_keeps_its_heartbeats(tmp_path):
    # 24 JPEGs of 1920x1080 take 5.5 s to render and encode here: built on the worker's event loop,
    # they held back its heartbeats past the master's patience (3 s); the master took the worker
    # for lost and ended the run with no request (exit 3), as the landed code did with 16 of them
    # (5.4 s then) before the pool went off the loop.
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "20", "--itl-ms", "5", "--log", str(log)) as emulator:
        master, pods = start_cluster(tmp_path, emulator.url, "-u", "2", "-r", "2", "-t", "8s",
                                     "--max-tokens", "20", "--image-size", "1920x1080",
                                     "--image-pool-size", "24", "Base64ImageChatUser", workers=1)
        code = master.wait(timeout=120)
        pods[0].wait(timeout=30)
        time.sleep(0.3)
    master_err = output(tmp_path, "master")[1]
    assert code == 0, master_err[-3000:]
    assert "missing" not in master_err and "lost" not in master_err, master_err[-3000:]
    summary = read_summary(tmp_path)
    assert summary["completed"] == len(read_jsonl(log)) > 0 and summary["failed"] == 0
    assert summary["workers_reported"] == 1 and summary["total_images"] == summary["completed"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_master_no_worker_joined_exits_non_zero_with_one_line(tmp_path, sig):
    with start_emulator() as emulator:
        master, _ = start_cluster(tmp_path, emulator.url, "-u", "1", "-t", "5s", "TextChatUser",
                                  workers=0, expect=1)
        time.sleep(4)
        master.send_signal(sig)
        assert master.wait(timeout=60) == 3
    err = output(tmp_path, "master")[1]
    assert "stopped before the run started: 0 of 1 worker(s) joined" in err
    assert "Traceback" not in err


def test_a_worker_killed_mid_run_is_named_and_what_it_reported_is_kept(tmp_path):
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "20", "--itl-ms", "5", "--log", str(log)) as emulator:
        master, (kept, killed) = start_cluster(tmp_path, emulator.url, "-u", "4", "-r", "4", "-t", "16s",
                                               "--max-tokens", "20", "TextChatUser")
        wait_for_lines(log, 50)
        time.sleep(4)  # the doomed worker has reported at least once (every 3 s)
        killed.send_signal(signal.SIGKILL)
        code = master.wait(timeout=120)
        kept.wait(timeout=30)
    master_err = output(tmp_path, "master")[1]
    summary = read_summary(tmp_path)
    assert summary is not None, master_err[-3000:]
    assert code == 0  # a lost worker fails the run only when asked (--fail-on-worker-loss)
    assert re.search(r"worker \S+ \(index \d\) lost [\d.]+ s into the run", master_err), master_err[-3000:]
    [lost] = summary["lost_workers"]
    assert lost["requests_reported"] > 0
    served = len(read_jsonl(log))
    # everything but what the killed worker had not yet reported (at most ~3 s of its share)
    assert lost["requests_reported"] < summary["completed"] <= served
    assert summary["failed"] == 0
