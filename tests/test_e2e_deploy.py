"""The headless Kubernetes form, run here: the pods' own commands, from the image's own files.

The master's and workers' commands are read from the rendered deploy/k8s/headless manifests and
run as they are, but for three substitutions a cluster would make: the master Service's name is
127.0.0.1, the mounted conf is a local copy whose host is a loopback emulator, /out is a folder
here. Workers get nothing but ``--worker --master-host 127.0.0.1``, as in their pods.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import docker_context
import kustomize_lite
import pytest
from kustomize_lite import pod_specs

from emulator.launch import start_emulator

from locust_run import read_jsonl

pytestmark = pytest.mark.load

REPO = Path(__file__).resolve().parents[1]
HEADLESS = REPO / "deploy" / "k8s" / "headless"
CONF = "/etc/llm-locust/run.conf"


def pod(objects: list[dict], component: str) -> dict:
    """The container of the Job whose pods are the master's or the workers'."""
    (job,) = [obj for obj in objects if obj["kind"] == "Job"
              and obj["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    (container,) = pod_specs(job)[0]["containers"]
    return container


def local(command: list[str], replace: dict[str, str]) -> list[str]:
    """The pod's command with this machine's python running locust and the cluster's names swapped."""
    assert command[0] == "locust"
    words = [sys.executable, "-m", "locust", *command[1:]]
    for old, new in replace.items():
        words = [word.replace(old, new) for word in words]
    return words


def local_conf(tmp: Path, url: str) -> Path:
    """deploy/k8s/base/run.conf with its host set to ``url``."""
    text = (REPO / "deploy" / "k8s" / "base" / "run.conf").read_text()
    text, count = re.subn(r"(?m)^host\s*=.*$", f"host = {url}", text)
    assert count == 1, "run.conf sets the host once"
    conf = tmp / "run.conf"
    conf.write_text(text)
    return conf


def pod_env(image: docker_context.Image, extra: dict[str, str]) -> dict[str, str]:
    """The image's environment, the Secret's key, and none of this shell's Locust settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_") and k != "PYTHONPATH"}
    return env | image.env | {"OPENAI_API_KEY": "sk-test-deploy"} | extra


def test_headless_pods_commands_count_every_request_the_emulator_served(tmp_path):
    objects = kustomize_lite.render(HEADLESS)
    master, worker = pod(objects, "master"), pod(objects, "worker")
    service = next(obj for obj in objects if obj["kind"] == "Service")["metadata"]["name"]
    master_env = kustomize_lite.parse_env_file((REPO / "deploy" / "k8s" / "base" / "run.env").read_text())
    image = docker_context.read_image(REPO / "deploy" / "Dockerfile", REPO)
    workdir = docker_context.materialize(image, REPO, tmp_path / "image")
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "emulator.jsonl"
    with start_emulator("--ttft-ms", "20", "--itl-ms", "10", "--log", str(log)) as emulator:
        replace = {CONF: str(local_conf(tmp_path, emulator.url)), "/out/": f"{out}/", service: "127.0.0.1"}
        master_cmd = [*local(master["command"], replace), "-t", "8s"]
        worker_cmd = local(worker["command"], replace)
        assert worker_cmd[3:] == ["-f", "locustfile.py", "--worker", "--master-host", "127.0.0.1"]
        run = {"cwd": workdir, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        workers = [subprocess.Popen(worker_cmd, env=pod_env(image, {}), **run) for _ in range(2)]
        try:
            finished = subprocess.run(master_cmd, env=pod_env(image, master_env), timeout=180, **run)
            worker_logs = [w.communicate(timeout=60)[0] for w in workers]
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
    assert finished.returncode == 0, finished.stdout[-3000:] + "\n".join(w[-1500:] for w in worker_logs)
    assert [w.returncode for w in workers] == [0, 0], "\n".join(w[-1500:] for w in worker_logs)
    summary = json.loads((out / "summary.json").read_text())
    served = read_jsonl(log)
    assert summary["completed"] == len(served) > 0 and summary["failed"] == 0
    assert (out / "report.html").exists() and (out / "stats_stats.csv").exists()
    # the settings reached the workers from the master: run.conf's input-len 1024 +/- 25 %, not 128
    assert min(record["prompt_tokens"] for record in served) >= 768


def test_web_master_answers_its_probes_on_the_web_port(tmp_path):
    objects = kustomize_lite.render(REPO / "deploy" / "k8s")
    (deployment,) = [obj for obj in objects if obj["kind"] == "Deployment"
                     and obj["metadata"]["labels"]["app.kubernetes.io/component"] == "master"]
    (master,) = pod_specs(deployment)[0]["containers"]
    probe = master["readinessProbe"]["httpGet"]
    port = next(p["containerPort"] for p in master["ports"] if p["name"] == probe["port"])
    image = docker_context.read_image(REPO / "deploy" / "Dockerfile", REPO)
    workdir = docker_context.materialize(image, REPO, tmp_path / "image")
    command = local(master["command"], {CONF: str(local_conf(tmp_path, "http://127.0.0.1:9"))})
    proc = subprocess.Popen(command, cwd=workdir, env=pod_env(image, {}), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        status = wait_for_http(f"http://127.0.0.1:{port}{probe['path']}", proc)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    assert status == 200, output[-3000:]
    assert proc.returncode == 0, output[-3000:]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> int | None:
    """The status of the first answer from ``url`` (None if ``proc`` exits or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.2)
    return None
