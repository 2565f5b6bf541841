"""Render a kustomization the way ``kubectl kustomize`` does, for the subset deploy/k8s uses.

The subset: ``resources`` (files and directories), ``configMapGenerator`` (``files``, ``envs``,
``literals``; names get kustomize's content-hash suffix and references to them are rewritten),
``namespace`` and ``images``. Any other key is refused, so a manifest that starts using more of
kustomize fails here instead of rendering differently. tests/test_deploy.py compares this
rendering with kubectl's whenever kubectl is installed, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "configMapGenerator", "namespace", "images"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
                  "CustomResourceDefinition", "PriorityClass"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class KustomizeError(ValueError):
    """The kustomization uses something outside the subset, or is malformed."""


def render(root: Path) -> list[dict[str, Any]]:
    """Every object the kustomization at ``root`` produces, with generated names referenced."""
    objects, renames = _build(Path(root))
    for obj in objects:
        for spec in pod_specs(obj):
            _rename_config_maps(spec, renames)
    return objects


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod spec of a Pod, or of a workload's pod template (none for other kinds)."""
    if obj.get("kind") == "Pod":
        return [obj["spec"]]
    if obj.get("kind") in POD_TEMPLATE_KINDS:
        return [obj["spec"]["template"]["spec"]]
    return []


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A pod spec's init containers and containers."""
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _build(root: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    path = root / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{root}: no kustomization.yaml")
    kust = yaml.safe_load(path.read_text()) or {}
    unknown = set(kust) - SUPPORTED_KEYS
    if unknown:
        raise KustomizeError(f"{path}: outside the subset this loader renders: {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    renames: dict[str, str] = {}
    for entry in kust.get("resources", []):
        target = root / entry
        if target.is_dir():
            sub_objects, sub_renames = _build(target)
            objects += sub_objects
            renames.update(sub_renames)
        else:
            objects += [doc for doc in yaml.safe_load_all(target.read_text()) if doc]
    for generator in kust.get("configMapGenerator", []):
        config_map = _generate_config_map(root, generator)
        renames[generator["name"]] = config_map["metadata"]["name"]
        objects.append(config_map)
    for obj in objects:
        _set_namespace(obj, kust.get("namespace"))
        for spec in pod_specs(obj):
            _set_images(spec, kust.get("images", []))
    return objects, renames


def _generate_config_map(root: Path, generator: dict[str, Any]) -> dict[str, Any]:
    unknown = set(generator) - {"name", "files", "envs", "literals"}
    if unknown:
        raise KustomizeError(f"configMapGenerator {generator.get('name')}: unsupported {sorted(unknown)}")
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        key, _, rel = entry.partition("=") if "=" in entry else (Path(entry).name, "", entry)
        data[key] = (root / rel).read_text()
    for entry in generator.get("envs", []):
        data.update(parse_env_file((root / entry).read_text()))
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{generator['name']}-{config_map_hash(data)}"},
        "data": data,
    }


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and lines starting with # are skipped."""
    pairs = {}
    for line in text.splitlines():
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        if "=" not in stripped:
            raise KustomizeError(f"env file line without '=': {line!r}")
        key, _, value = stripped.partition("=")
        pairs[key] = value
    return pairs


def config_map_hash(data: dict[str, str]) -> str:
    """kustomize's name suffix: the first 10 hex digits of the SHA-256 of Go's JSON encoding of
    ``{"data": ..., "kind": "ConfigMap", "name": ""}`` (kustomize looks the name up under a path
    that never matches, so it hashes an empty one), with 0, 1, 3, a, e mapped to g, h, k, m, t."""
    encoded = json.dumps({"data": data, "kind": "ConfigMap", "name": ""}, sort_keys=True,
                         separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        encoded = encoded.replace(char, escape)  # as Go's encoding/json escapes them
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _set_namespace(obj: dict[str, Any], namespace: str | None) -> None:
    if namespace and obj.get("kind") not in CLUSTER_SCOPED:
        obj.setdefault("metadata", {})["namespace"] = namespace


def _set_images(spec: dict[str, Any], images: list[dict[str, str]]) -> None:
    for container in containers(spec):
        name = _image_name(container["image"])
        for image in images:
            if image["name"] != name:
                continue
            unknown = set(image) - {"name", "newName", "newTag"}
            if unknown:
                raise KustomizeError(f"images {name}: unsupported {sorted(unknown)}")
            old_tag = container["image"][len(name):]  # ":1.2", "@sha256:..." or ""
            tag = f":{image['newTag']}" if "newTag" in image else old_tag
            container["image"] = image.get("newName", name) + tag


def _image_name(image: str) -> str:
    """``registry:5000/app:1.2`` -> ``registry:5000/app`` (a colon after the last slash is a tag)."""
    image = image.split("@", 1)[0]
    head, _, last = image.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _rename_config_maps(spec: dict[str, Any], renames: dict[str, str]) -> None:
    refs = [volume["configMap"] for volume in spec.get("volumes", []) if "configMap" in volume]
    for container in containers(spec):
        refs += [source["configMapRef"] for source in container.get("envFrom", [])
                 if "configMapRef" in source]
        refs += [env["valueFrom"]["configMapKeyRef"] for env in container.get("env", [])
                 if "configMapKeyRef" in env.get("valueFrom", {})]
    for ref in refs:
        ref["name"] = renames.get(ref["name"], ref["name"])


def by_kind_and_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Objects keyed by (kind, name), for comparing renderings whatever their order."""
    keyed = {(obj["kind"], obj["metadata"]["name"]): copy.deepcopy(obj) for obj in objects}
    if len(keyed) != len(objects):
        raise KustomizeError("two objects share a kind and name")
    return keyed
