"""Where a run's images come from: an ahead-built pool (data URIs) or URLs the target can fetch.

Nothing is encoded on the hot path: :meth:`ImageSupply.prepare` builds the pool before the
run; URLs come from a list file, or from a loopback static server this run starts over the
pool's files.
"""

from __future__ import annotations

import itertools
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from images.files import load_url_list
from images.pool import ImagePool
from images.server import ImageServer
from images.synth import SynthSpec
from payloads.multimodal import ImageCount


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
    server_port: int = 0
    text_first: bool = True
    seed: int = 0

    def validate(self) -> None:
        """Raise a one-line error for a bad spec before the run starts."""
        ImageCount.parse(self.per_request)
        if not self.files:
            SynthSpec.parse(self.size, self.fmt, self.quality, self.seed)

    def file_paths(self) -> list[Path]:
        """The image files named, a folder expanded to its files (sorted)."""
        paths: list[Path] = []
        for name in self.files:
            path = Path(name)
            paths.extend(sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path])
        return paths


class ImageSupply:
    """Hands out image references for requests: data URIs or URLs, N per request."""

    def __init__(self, options: ImageOptions) -> None:
        self.options = options
        self.count = ImageCount.parse(options.per_request)
        self._rng = random.Random(options.seed)
        self._pool: ImagePool | None = None
        self._urls: itertools.cycle | None = None
        self._server: ImageServer | None = None
        self._folder: tempfile.TemporaryDirectory | None = None

    def prepare(self, data_uris: bool, urls: bool) -> None:
        """Build the pool (and start the URL server) before the run, so no request waits for it."""
        if data_uris:
            self.pool()
        if urls and self._urls is None:
            self._urls = itertools.cycle(self._url_list())

    def pool(self) -> ImagePool:
        if self._pool is None:
            o = self.options
            if o.files:
                self._pool = ImagePool.from_files(o.file_paths(), max_bytes=int(o.max_mb * 2**20),
                                                  unique=o.unique, seed=o.seed)
            else:
                spec = SynthSpec.parse(o.size, o.fmt, o.quality, o.seed)
                self._pool = ImagePool.synthesize(o.pool_size, spec, unique=o.unique)
        return self._pool

    def data_uris(self) -> list[str]:
        """Data URIs for the next request (base64 traffic)."""
        pool = self.pool()
        return [pool.next().data_uri for _ in range(self.count.draw(self._rng))]

    def urls(self) -> list[str]:
        """URLs for the next request (image-URL traffic)."""
        if self._urls is None:
            self.prepare(data_uris=False, urls=True)
        return [next(self._urls) for _ in range(self.count.draw(self._rng))]

    def _url_list(self) -> list[str]:
        o = self.options
        if o.url_file:
            return load_url_list(o.url_file)
        self._folder = tempfile.TemporaryDirectory(prefix="llm-images-")
        self.pool().write_to(self._folder.name)
        self._server = ImageServer(self._folder.name, o.server_host, o.server_port).start()
        return self._server.urls

    def close(self) -> None:
        """Stop the static server and remove its files."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
