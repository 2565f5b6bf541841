"""A small static file server so a target can fetch image URLs (`image_url` parts with http URLs).

`ImageServer(folder).start()` serves one folder from a background thread with the stdlib
`ThreadingHTTPServer`; it also works after `gevent.monkey.patch_all()` (as under Locust),
where its threads become greenlets. It binds to loopback only unless told otherwise (a
remote target cannot fetch from loopback: ``--image-server-host 0.0.0.0`` binds every address,
and ``--image-base-url`` says which one the target reaches).

    python -m images.server                    # serve images/samples/ and print the URLs
    python -m images.server --synth 16 --size 1024x768 --urls-out urls.txt
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

from conf.images import is_loopback
from images.cli import OneLineParser, fail
from images.errors import ImageError
from images.pool import ImagePool
from images.synth import SynthSpec

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
log = logging.getLogger("llm")

__all__ = ["ImageServer", "is_loopback", "SAMPLES_DIR", "LOOPBACK_NAMES"]


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files with keep-alive and without a log line per request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class ImageServer:
    """Serves the files of one folder over HTTP from a background thread.

    Use as `with ImageServer(folder) as server: urls = server.urls`, or call
    `start()` and `stop()`. `port=0` picks a free port.
    """

    def __init__(self, folder: str | Path = SAMPLES_DIR, host: str = "127.0.0.1", port: int = 0,
                 *, allow_non_loopback: bool = False) -> None:
        self.folder = Path(folder)
        if not allow_non_loopback and not is_loopback(host):
            raise ImageError(f"image server host {host!r} is not loopback; accepted: "
                             f"{', '.join(LOOPBACK_NAMES)} (or --allow-non-loopback to bind it)")
        if not self.folder.is_dir():
            raise ImageError(f"image folder {str(self.folder)!r} does not exist or is not a folder")
        self.host = host.strip("[]")
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ImageServer:
        """Bind and serve in a background (daemon) thread; returns self."""
        if self._server is not None:
            return self
        server_class = _Server6 if ":" in self.host else _Server
        handler = functools.partial(_QuietHandler, directory=str(self.folder))
        try:
            self._server = server_class((self.host, self.port), handler)
        except OSError as error:
            where = f"{self.host}:{self.port}"
            raise ImageError(f"image server cannot listen on {where}: {error.strerror}") from None
        self.port = self._server.server_address[1]
        if not is_loopback(self.host):
            log.warning("LLM image server listens on %s:%d, reachable from other machines (it serves only "
                        "the run's images, read-only)", self.host, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="image-server", daemon=True)
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        """`http://host:port/`, with IPv6 hosts in brackets (only known once started)."""
        if self._server is None:
            raise ImageError("image server is not started; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def urls(self) -> list[str]:
        """Full URLs of the (non-hidden) files in the folder, sorted by name."""
        return self.urls_at(self.base_url)

    def urls_at(self, base: str) -> list[str]:
        """The files' URLs under ``base`` (where the target reaches this server: ``--image-base-url``)."""
        names = sorted(p.name for p in self.folder.iterdir() if p.is_file() and not p.name.startswith("."))
        return [base + quote(name) for name in names]

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the thread."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> ImageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m images.server", description="Serve image files over HTTP.")
    parser.add_argument("--folder", default=str(SAMPLES_DIR), help="folder to serve (default images/samples)")
    parser.add_argument("--synth", type=int, metavar="N", help="serve N synthetic images instead of a folder")
    parser.add_argument("--size", default="640x480", help="size spec for --synth (default 640x480)")
    parser.add_argument("--format", default="jpeg", help="jpeg, png or webp for --synth (default jpeg)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--allow-non-loopback", action="store_true", help="allow a non-loopback --host")
    parser.add_argument("--urls-out", help="also write the URLs to this file, one per line")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: Ctrl-C)")
    return parser


def _serve(args: argparse.Namespace, folder: str) -> None:
    with ImageServer(folder, args.host, args.port, allow_non_loopback=args.allow_non_loopback) as server:
        urls = server.urls
        if args.urls_out:
            Path(args.urls_out).write_text("".join(url + "\n" for url in urls), encoding="utf-8")
        print("\n".join(urls), flush=True)
        print(f"serving {len(urls)} files from {folder} at {server.base_url}", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(args.seconds if args.seconds is not None else 1e9)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a folder (or a freshly built synthetic pool) until Ctrl-C or `--seconds`."""
    args = _parser().parse_args(argv)
    try:
        if args.synth is None:
            _serve(args, args.folder)
            return 0
        pool = ImagePool.synthesize(args.synth, SynthSpec.parse(args.size, args.format))
        with tempfile.TemporaryDirectory(prefix="llm-locust-images-") as folder:
            pool.write_to(folder)
            _serve(args, folder)
        return 0
    except (ImageError, OSError) as error:
        return fail(error, "python -m images.server")


if __name__ == "__main__":
    sys.exit(main())
