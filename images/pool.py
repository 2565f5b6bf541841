"""Image pools built before the run, so the hot path never encodes.

`ImagePool.synthesize(...)` renders and encodes N images once; `ImagePool.from_files(...)`
loads them. `next()` then hands out a ready `EncodedImage` (bytes, mime, size, `data:` URI),
in turn or in seeded-random order. With `unique=True` every `next()` returns a different image,
made by splicing prepared bytes into the file (see `images.stamp`), never by encoding.

Run `python -m images.pool --count 8 --size 640x480 --unique` to see a pool's memory and the
cost of one `next()`.
"""

from __future__ import annotations

import argparse
import io
import itertools
import random
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from PIL import Image

from images.cli import OneLineParser, fail
from images.encoded import FORMATS, EncodedImage
from images.errors import ImageError
from images.files import DEFAULT_MAX_BYTES, load_image_file
from images.stamp import FixedImage, Stamper, make_stamper
from images.synth import SynthSpec, check_quality, encode, render_nth

ORDERS = ("cycle", "random")
_LEVELS = ("none", "bytes", "pixels")
MAX_POOL = 100_000
_FORMATS_BY_MIME = {fmt.mime: fmt for fmt in FORMATS.values()}
_SUFFIXES = {fmt.mime: fmt.suffix for fmt in FORMATS.values()} | {"image/gif": ".gif", "image/bmp": ".bmp"}


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_POOL:
        raise ImageError(f"bad image pool size {count!r}; accepted: an integer from 1 to {MAX_POOL}")
    return count


class ImagePool:
    """A fixed set of images encoded ahead of the run, handed out by `next()`.

    Built by `synthesize` or `from_files`. Each slot is a `Stamper`: a plain pool's slots
    always give their one image; a unique pool's slots give variant `salt + n` for the n-th
    call, so the first 2**`unique_bits` calls all get different images.
    """

    def __init__(self, slots: Sequence[Stamper], *, order: str = "cycle", seed: int = 0,
                 salt: int | None = None, build_seconds: float = 0.0) -> None:
        if not slots:
            raise ImageError("an image pool needs at least one image")
        if order not in ORDERS:
            raise ImageError(f"bad image order {order!r}; accepted: {', '.join(ORDERS)}")
        self._slots = tuple(slots)
        self._calls = itertools.count()
        self._random = random.Random(seed) if order == "random" else None
        self.order = order
        self.salt = secrets.randbits(64) if salt is None else salt
        """Offset added to the call number to make the variant code; random unless given, so
        separate processes (Locust workers) do not send the same variants."""
        self.build_seconds = build_seconds

    def next(self) -> EncodedImage:
        """The next image: ready bytes and `data:` URI, no encoding."""
        call = next(self._calls)
        size = len(self._slots)
        slot = self._slots[self._random.randrange(size) if self._random else call % size]
        return slot.stamp(self.salt + call)

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def unique(self) -> bool:
        """True when every call gets a different image."""
        return self.unique_level != "none"

    @property
    def unique_level(self) -> str:
        """What surely differs between calls: "pixels", "bytes" or "none" (weakest slot wins)."""
        return min((slot.level for slot in self._slots), key=_LEVELS.index)

    @property
    def unique_bits(self) -> int:
        """At least 2**unique_bits consecutive calls get distinct images (0 for a plain pool)."""
        return min(slot.bits for slot in self._slots)

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the pool's encoded images, `data:` URIs and prepared parts."""
        return sum(slot.nbytes for slot in self._slots)

    def samples(self) -> list[EncodedImage]:
        """One image per slot (variant 0 for a unique pool), e.g. to write them to files."""
        return [slot.stamp(0) for slot in self._slots]

    def describe(self) -> str:
        """One line: how many images, which types and sizes, memory, build time, uniqueness."""
        images = self.samples()
        mimes = sorted({image.mime for image in images})
        sizes = sorted({(image.width, image.height) for image in images})
        shown = ", ".join(f"{w}x{h}" for w, h in sizes[:4]) + (", ..." if len(sizes) > 4 else "")
        unique = (f"unique per call ({self.unique_level} differ, 2^{self.unique_bits} variants)"
                  if self.unique else f"{self.order} order")
        held = self.memory_bytes / 2**20
        return (f"{len(self)} images ({', '.join(mimes)}; {shown}), {held:.2f} MiB held, "
                f"built in {self.build_seconds:.2f} s, {unique}")

    def write_to(self, folder: str | Path) -> list[Path]:
        """Write one file per slot into `folder` (created if needed); returns their paths."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, image in enumerate(self.samples()):
            path = out / f"image-{index:05d}{_SUFFIXES.get(image.mime, '.img')}"
            path.write_bytes(image.data)
            paths.append(path)
        return paths

    @classmethod
    def synthesize(cls, count: int, spec: SynthSpec, *, unique: bool = False, order: str = "cycle",
                   salt: int | None = None) -> ImagePool:
        """Render and encode `count` images of `spec` now; `unique=True` prepares per-call variants."""
        _check_count(count)
        started = time.perf_counter()
        slots = [_synth_slot(spec, index, unique) for index in range(count)]
        return cls(slots, order=order, seed=spec.seed, salt=salt, build_seconds=time.perf_counter() - started)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], *, max_bytes: int = DEFAULT_MAX_BYTES,
                   unique: bool = False, quality: int = 90, order: str = "cycle", seed: int = 0,
                   salt: int | None = None) -> ImagePool:
        """Load image files now. Plain pools send the files' bytes as they are; `unique=True`
        decodes each JPEG/PNG/WebP file and prepares per-call variants (re-encoded in the same
        format at `quality`, alpha dropped)."""
        check_quality(quality)
        started = time.perf_counter()
        slots = [_file_slot(Path(path), max_bytes, unique, quality) for path in paths]
        return cls(slots, order=order, seed=seed, salt=salt, build_seconds=time.perf_counter() - started)


def _file_slot(path: Path, max_bytes: int, unique: bool, quality: int) -> Stamper:
    loaded = load_image_file(path, max_bytes=max_bytes)
    if not unique:
        return FixedImage(loaded)
    fmt = _FORMATS_BY_MIME.get(loaded.mime)
    if fmt is None:
        raise ImageError(f"image file {str(path)!r} is {loaded.mime}; "
                         "unique mode accepts JPEG, PNG and WebP files")
    with Image.open(io.BytesIO(loaded.data)) as image:
        return make_stamper(image.convert("RGB"), fmt, quality)


def _synth_slot(spec: SynthSpec, index: int, unique: bool) -> Stamper:
    image = render_nth(spec, index)
    if unique:
        return make_stamper(image, spec.fmt, spec.quality)
    data = encode(image, spec.fmt, spec.quality)
    return FixedImage(EncodedImage.from_bytes(data, spec.fmt.mime, *image.size))


def _time_calls(call: Callable[[], object], seconds: float) -> tuple[int, float]:
    """Call `call` repeatedly for about `seconds`; returns (calls, mean seconds per call)."""
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            call()
        calls += 100
    return calls, elapsed / calls


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m images.pool", description="Build an image pool and measure it.")
    parser.add_argument("--count", type=int, default=8, help="images in the pool (default 8)")
    parser.add_argument("--size", default="640x480", help="WxH, a list, or uniform:MIN-MAX (default 640x480)")
    parser.add_argument("--format", default="jpeg", help="jpeg, png or webp (default jpeg)")
    parser.add_argument("--quality", type=int, default=85, help="JPEG/WebP quality 1..100 (default 85)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--unique", action="store_true", help="a different image on every call")
    parser.add_argument("--seconds", type=float, default=1.0, help="how long to time next() (default 1)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Build a pool from the command line, print its summary and the cost of `next()`."""
    args = _parser().parse_args(argv)
    try:
        spec = SynthSpec.parse(args.size, args.format, args.quality, args.seed)
        pool = ImagePool.synthesize(args.count, spec, unique=args.unique)
    except ImageError as error:
        return fail(error, "python -m images.pool")
    calls, per_call = _time_calls(pool.next, min(max(args.seconds, 0.1), 20.0))
    print(pool.describe())
    print(f"next(): {per_call * 1e6:.1f} us per image over {calls} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
