"""The image knobs of a run, as plain data (no image or payload code, so settings stay at the bottom).

The grammar of the specs (sizes, formats, counts) belongs to the code that makes the images:
it registers its check with :func:`register_check`, and :func:`check` runs what is registered
(when the image code is loaded, as in every run, a bad spec is one line before the run starts).
What only needs plain values is checked here: the form of ``--image-base-url``, and whether
the target could fetch the served images at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class ImageOptions:
    """The image knobs of a run."""

    per_request: str = "1"
    """Images per request: N or MIN-MAX."""
    size: str = "640x480"
    """WxH, a list, or uniform:MIN-MAX (see images/synth.py)."""
    fmt: str = "jpeg"
    quality: int = 85
    unique: bool = False
    """A different image every request (defeats a server's image cache)."""
    pool_size: int = 16
    files: tuple[str, ...] = ()
    """Image files to send instead of synthetic images (a folder stands for the images in it)."""
    max_mb: float = 20.0
    """Largest image file accepted, in MB."""
    url_file: str | None = None
    """A file of image URLs; when unset, the run serves its pool on ``server_host``."""
    server_host: str = "127.0.0.1"
    """Where the run's image server listens; an address other than loopback only when asked."""
    server_port: int = 0
    base_url: str | None = None
    """Where the target fetches the served images from (``--image-base-url``), when that is not
    ``server_host``: a remote target cannot fetch from this machine's loopback. Its port is
    the server's when it names none."""
    text_first: bool = True
    seed: int = 0

    def file_paths(self) -> list[Path]:
        """The image files named, a folder expanded to its files (sorted)."""
        paths: list[Path] = []
        for name in self.files:
            path = Path(name)
            paths.extend(sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path])
        return paths

    def served_url(self, bound_host: str, port: int) -> str:
        """The base of the served images' URLs, as the target must fetch them."""
        if self.base_url is None:
            host = f"[{bound_host}]" if ":" in bound_host else bound_host
            return f"http://{host}:{port}/"
        parts = urlsplit(self.base_url)
        netloc = parts.netloc if parts.port else f"{parts.netloc}:{port}"
        return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}/"


_CHECKS: list[Callable[[ImageOptions], None]] = []


def register_check(check: Callable[[ImageOptions], None]) -> None:
    """Add a check of the specs (raises ``ValueError`` with one line naming the option)."""
    if check not in _CHECKS:
        _CHECKS.append(check)


def check(options: ImageOptions) -> None:
    """Raise ``ValueError`` (one line naming the flag) for image options no run can use."""
    if options.base_url is not None:
        parts = urlsplit(options.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--image-base-url {options.base_url!r}: expected http://HOST[:PORT][/PATH]")
    for each in _CHECKS:
        each(options)


def check_reachable(options: ImageOptions, target_host: str) -> None:
    """For image-URL traffic: ``ValueError`` when the target could not fetch the served images.

    A target on another machine cannot reach this one's loopback, where the image server
    listens unless told otherwise; the message names the flags that fix it.
    """
    if options.url_file or options.base_url is not None:
        return
    if is_loopback(options.server_host) and not is_loopback(target_host):
        raise ValueError(
            f"--image-server-host {options.server_host}: the target {target_host} cannot fetch images from "
            "this machine's loopback; pass --image-server-host 0.0.0.0 (or this machine's address) and "
            "--image-base-url http://ADDRESS-THE-TARGET-REACHES/, or --image-url-file FILE"
        )


def is_loopback(host: str) -> bool:
    """True for localhost and any loopback address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
