"""Where a run's images come from: an ahead-built pool (data URIs) or URLs the target can fetch.

Nothing is encoded on the hot path: :meth:`ImageSupply.prepare` builds the pool before the
run; URLs come from a list file, or from a static server this run starts over the pool's files
(on loopback unless ``--image-server-host`` says otherwise; ``--image-base-url`` is where the
target fetches them).
"""

from __future__ import annotations

import itertools
import random
import tempfile

from conf.images import ImageOptions, register_check
from images.encoded import EncodedImage
from images.files import load_url_list
from images.pool import ImagePool
from images.server import ImageServer
from images.synth import SynthSpec
from payloads.multimodal import ImageCount


def _check_specs(options: ImageOptions) -> None:
    """The spec grammar, from the code that makes the images (a one-line ``ValueError``): settings
    run it at start through :func:`conf.images.check` without importing this module."""
    ImageCount.parse(options.per_request)
    if not options.files:
        SynthSpec.parse(options.size, options.fmt, options.quality, options.seed)


register_check(_check_specs)


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
        self.drawn: tuple[int, int] = (0, 0)
        """Pixels and encoded bytes of the images last handed out ((0, 0) when unknown)."""

    def prepare(self, data_uris: bool, urls: bool) -> None:
        """Build the pool (and start the URL server) before the run, so no request waits for it."""
        self.build_pool(data_uris, urls)
        if urls and self._urls is None:
            self._urls = itertools.cycle(self._url_list())

    def build_pool(self, data_uris: bool, urls: bool) -> None:
        """The pool, when these kinds of traffic need one: data URIs always, URLs unless they come
        from a list file. Only computation and file reads, so it may run on a thread: encoding a
        pool takes seconds at large sizes (24 JPEGs of 1920x1080: 5.5 s here)."""
        if data_uris or (urls and self._urls is None and not self.options.url_file):
            self.pool()

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
        images = [pool.next() for _ in range(self.count.draw(self._rng))]
        self.drawn = _sizes(images)
        return [image.data_uri for image in images]

    def urls(self) -> list[str]:
        """URLs for the next request (image-URL traffic)."""
        if self._urls is None:
            self.prepare(data_uris=False, urls=True)
        drawn = [next(self._urls) for _ in range(self.count.draw(self._rng))]
        known = [image for _, image in drawn if image is not None]
        self.drawn = _sizes(known) if len(known) == len(drawn) else (0, 0)
        return [url for url, _ in drawn]

    def _url_list(self) -> list[tuple[str, EncodedImage | None]]:
        """The URLs to hand out, each with its image when it is one of our pool's (served here)."""
        o = self.options
        if o.url_file:
            return [(url, None) for url in load_url_list(o.url_file)]
        self._folder = tempfile.TemporaryDirectory(prefix="llm-images-")
        pool = self.pool()
        by_name = {path.name: image for path, image in zip(pool.write_to(self._folder.name), pool.samples(),
                                                             strict=True)}
        # A host other than loopback is bound only because --image-server-host asked for it.
        server = ImageServer(self._folder.name, o.server_host, o.server_port, allow_non_loopback=True)
        self._server = server.start()
        base = o.served_url(self._server.host, self._server.port)
        return [(url, by_name.get(url.rsplit("/", 1)[-1])) for url in self._server.urls_at(base)]

    def close(self) -> None:
        """Stop the static server and remove its files."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def _sizes(images: list[EncodedImage]) -> tuple[int, int]:
    """Pixels and encoded bytes of ``images``."""
    return sum(i.width * i.height for i in images), sum(len(i.data) for i in images)
