"""The committed build of the web UI (``webui/dist``) is the build of the committed sources, from
pinned npm packages only, and the page fetches nothing from outside the Locust server."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

WEBUI = Path(__file__).resolve().parents[1] / "webui"
DIST = WEBUI / "dist"
SOURCES = ["index.html", "package.json", "package-lock.json", "vite.config.mjs",
           *sorted(f"src/{path.name}" for path in (WEBUI / "src").iterdir())]
"""As ``webui/vite.config.mjs`` lists them for ``dist/source.sha256``."""
REGISTRY = "https://registry.npmjs.org/"


def source_hash() -> str:
    digest = hashlib.sha256()
    for path in SOURCES:
        digest.update(f"{path}\0".encode())
        digest.update((WEBUI / path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def test_the_bundle_is_built_from_the_sources():
    stamp = (DIST / "source.sha256").read_text().strip()
    assert stamp == source_hash(), "webui/dist is older than its sources: cd webui && npm ci && npm run build"


def test_every_npm_package_is_pinned_and_from_the_registry():
    package = json.loads((WEBUI / "package.json").read_text())
    for group in ("dependencies", "devDependencies"):
        for name, version in package.get(group, {}).items():
            assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} {version}: pin an exact version"
    lock = json.loads((WEBUI / "package-lock.json").read_text())
    assert lock["lockfileVersion"] >= 3
    for path, entry in lock["packages"].items():
        if path:  # (npm leaves out "resolved" for the default registry)
            assert entry.get("resolved", REGISTRY).startswith(REGISTRY), path
            assert re.fullmatch(r"\d+\.\d+\.\d+\S*", entry["version"]), path
            assert entry.get("integrity", "").startswith("sha512-"), path


def test_the_page_loads_only_its_own_assets():
    page = (DIST / "index.html").read_text()
    assert "window.templateArgs = {{ template_args|tojson }}" in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(source.startswith("./assets/") for source in sources), sources
    script = next(source for source in sources if source.endswith(".js"))
    assert (DIST / script).is_file()
