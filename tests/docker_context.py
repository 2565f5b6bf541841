"""What a Dockerfile puts in its image, worked out without building it: for tests/test_deploy.py.

It reads the instructions (line continuations and comments as Docker reads them), applies
``.dockerignore`` to the build context as Docker's pattern matcher does (``*``, ``?``, ``**``,
``!`` exceptions, a matched directory takes what is under it) and follows each ``COPY`` into
the ``WORKDIR``. It also finds the repo's own modules a script imports, transitively.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


class DockerfileError(ValueError):
    """The Dockerfile uses something this reader does not follow."""


@dataclass
class Instruction:
    """One instruction: its keyword in capitals and the text after it."""

    keyword: str
    text: str

    def words(self) -> list[str]:
        """The arguments: the JSON (exec) form, or words split on whitespace."""
        stripped = self.text.strip()
        if stripped.startswith("["):
            return json.loads(stripped)
        return stripped.split()


@dataclass
class Image:
    """What the instructions say about the image: base, env, user, entrypoint, and its files."""

    base: str = ""
    workdir: PurePosixPath = PurePosixPath("/")
    env: dict[str, str] = field(default_factory=dict)
    user: str = "root"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    files: dict[PurePosixPath, str] = field(default_factory=dict)
    """absolute path in the image -> the context path it was copied from"""


def instructions(text: str) -> list[Instruction]:
    """A Dockerfile's instructions; comment lines are dropped, even inside a continuation."""
    result, pending = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, rest = full.partition(" ")
            result.append(Instruction(keyword.upper(), rest.strip()))
    return result


def read_image(dockerfile: Path, context: Path) -> Image:
    """Follow a single-stage Dockerfile's instructions over ``context`` (after .dockerignore)."""
    sent = context_files(context)
    image = Image()
    for ins in instructions(dockerfile.read_text()):
        if ins.keyword == "FROM":
            if image.base:
                raise DockerfileError("more than one stage")
            image.base = ins.words()[0]
        elif ins.keyword == "WORKDIR":
            image.workdir = image.workdir / ins.text.strip()
        elif ins.keyword == "ENV":
            image.env.update(_env_pairs(ins.text))
        elif ins.keyword == "USER":
            image.user = ins.text.strip()
        elif ins.keyword in ("ENTRYPOINT", "CMD"):
            setattr(image, ins.keyword.lower(), ins.words())
        elif ins.keyword == "RUN":
            image.runs.append(ins.text)
        elif ins.keyword in ("COPY", "ADD"):
            _copy(image, ins, sent)
    return image


def _env_pairs(text: str) -> dict[str, str]:
    words = text.split()
    if words and "=" not in words[0]:  # the legacy `ENV KEY value` form
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def _copy(image: Image, ins: Instruction, sent: set[str]) -> None:
    words = ins.words()
    flags = [w for w in words if w.startswith("--")]
    if ins.keyword == "ADD" or any(f.startswith("--from") for f in flags):
        raise DockerfileError(f"{ins.keyword} {ins.text}: only COPY from the context is followed")
    *sources, dest_text = [w for w in words if not w.startswith("--")]
    dest = image.workdir / dest_text
    for source in sources:
        if any(ch in source for ch in "*?["):
            raise DockerfileError(f"COPY {source}: wildcards are not followed")
        src = source.strip("/")
        if src in sent:  # a file
            target = dest / Path(src).name if dest_text.endswith("/") or len(sources) > 1 else dest
            image.files[target] = src
            continue
        below = sorted(path for path in sent if path.startswith(src + "/"))
        if not below:
            raise DockerfileError(f"COPY {source}: not in the build context (or all of it is ignored)")
        for path in below:  # a directory: its contents go into dest
            image.files[dest / path[len(src) + 1:]] = path


def context_files(context: Path) -> set[str]:
    """The context's files (relative POSIX paths) that .dockerignore lets through."""
    patterns = ignore_patterns(context / ".dockerignore")
    prune = not any(exception for exception, _ in patterns)  # no exception can bring a file back
    files = set()
    for folder, dirs, names in os.walk(context):
        rel_folder = Path(folder).relative_to(context).as_posix()
        prefix = "" if rel_folder == "." else rel_folder + "/"
        if prune:
            dirs[:] = [d for d in dirs if not is_ignored(prefix + d, patterns)]
        files.update(prefix + name for name in names if not is_ignored(prefix + name, patterns))
    return files


def ignore_patterns(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception, compiled pattern) for each line of a .dockerignore."""
    patterns = []
    if not path.exists():
        return patterns
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = str(PurePosixPath(line.lstrip("!").strip())).lstrip("/")
        patterns.append((exception, re.compile(_pattern_regex(pattern))))
    return patterns


def _pattern_regex(pattern: str) -> str:
    """Docker's pattern syntax as a regex over a whole slash-separated path."""
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if i < len(pattern) and pattern[i] == "/":
                i += 1
            out += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[":
            end = pattern.index("]", i)
            out += pattern[i:end + 1]
            i = end
        else:
            out += re.escape(ch)
        i += 1
    return f"^{out}$"


def is_ignored(rel: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """The last pattern that matches the path, or one of its parent directories, decides."""
    parts = rel.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for exception, regex in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not exception
    return ignored


def local_imports(repo: Path, start: Path) -> tuple[set[Path], set[str]]:
    """The repo's own files that ``start`` imports, transitively (with their packages'
    ``__init__.py``), and the top-level names of every other module they import."""
    seen: set[Path] = set()
    outside: set[str] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imported_modules(repo, path):
            files = _module_files(repo, module)
            if files:
                todo += files
            elif module.split(".")[0] not in sys.stdlib_module_names:
                outside.add(module.split(".")[0])
    return seen, outside


def _imported_modules(repo: Path, path: Path) -> set[str]:
    package = path.relative_to(repo).parent.parts
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            prefix = ".".join([*base, *(node.module.split(".") if node.module else [])])
            modules.add(prefix)
            modules.update(f"{prefix}.{alias.name}" for alias in node.names)
    return {m for m in modules if m}


def _module_files(repo: Path, module: str) -> list[Path]:
    """The file of a repo module (and its packages' __init__.py); empty when it is not the repo's."""
    parts = module.split(".")
    files = []
    for n in range(1, len(parts) + 1):
        base = repo.joinpath(*parts[:n])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
        else:
            break
    return files


def materialize(image: Image, context: Path, root: Path) -> Path:
    """Write the image's copied files under ``root``; returns where its WORKDIR is."""
    for target, source in image.files.items():
        dest = root / target.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(context / source, dest)
    return root / image.workdir.relative_to("/")
