"""Synthetic images that look like something: a gradient, shapes and sensor-like noise.

Flat colours compress to almost nothing, which would make the bytes on the wire and the
decode work on the server unrealistically small. Gradients, soft-edged shapes and noise give
JPEG/WebP/PNG sizes in the range of real photographs of the same dimensions.
Every image is a pure function of (seed, index), so pools are reproducible.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from images.encoded import EncodedImage, ImageFormat, parse_format
from images.errors import ImageError

MIN_SIDE = 16
MAX_SIDE = 8192
NOISE_SIGMA = 8.0
_SIZE_RE = re.compile(r"^(\d+)x(\d+)$")
_ACCEPTED_SIZES = (
    "accepted: WxH (640x480), a list (640x480,1280x720), uniform:MIN-MAX (square side, "
    f"e.g. uniform:256-1024) or uniform:WxH-WxH (e.g. uniform:256x256-1024x768); sides {MIN_SIDE}..{MAX_SIDE}"
)

Size = tuple[int, int]


@dataclass(frozen=True)
class FixedSizes:
    """One size or a list of sizes, used in turn: image i gets `sizes[i % len(sizes)]`."""

    sizes: tuple[Size, ...]

    def pick(self, index: int, rng: np.random.Generator) -> Size:
        """The size of image number `index` (`rng` is unused: fixed sizes are not random)."""
        return self.sizes[index % len(self.sizes)]


@dataclass(frozen=True)
class UniformSizes:
    """Width and height drawn uniformly between `low` and `high` (inclusive); `square` ties them."""

    low: Size
    high: Size
    square: bool

    def pick(self, index: int, rng: np.random.Generator) -> Size:
        """A size drawn from `rng` (`index` is unused: draws depend on the image's own rng)."""
        width = int(rng.integers(self.low[0], self.high[0] + 1))
        if self.square:
            return width, width
        return width, int(rng.integers(self.low[1], self.high[1] + 1))


SizeSpec = FixedSizes | UniformSizes


def _bad_size(text: str) -> ImageError:
    return ImageError(f"bad image size {text!r}; {_ACCEPTED_SIZES}")


def _side(value: str, text: str) -> int:
    side = int(value)
    if not MIN_SIDE <= side <= MAX_SIDE:
        raise _bad_size(text)
    return side


def _size(part: str, text: str) -> Size:
    match = _SIZE_RE.match(part.strip())
    if match is None:
        raise _bad_size(text)
    return _side(match[1], text), _side(match[2], text)


def _parse_uniform(body: str, text: str) -> UniformSizes:
    parts = body.split("-")
    if len(parts) != 2:
        raise _bad_size(text)
    low_text, high_text = (p.strip() for p in parts)
    if low_text.isdigit() and high_text.isdigit():
        low, high = _side(low_text, text), _side(high_text, text)
        spec = UniformSizes((low, low), (high, high), square=True)
    else:
        spec = UniformSizes(_size(low_text, text), _size(high_text, text), square=False)
    if spec.low[0] > spec.high[0] or spec.low[1] > spec.high[1]:
        raise ImageError(f"bad image size {text!r}: the low end is above the high end; {_ACCEPTED_SIZES}")
    return spec


def parse_size_spec(text: str) -> SizeSpec:
    """Parse "640x480", "640x480,1280x720", "uniform:256-1024" or "uniform:256x256-1024x768"."""
    spec = text.strip().lower()
    if spec.startswith("uniform:"):
        return _parse_uniform(spec.removeprefix("uniform:"), text)
    if not spec:
        raise _bad_size(text)
    return FixedSizes(tuple(_size(part, text) for part in spec.split(",")))


def check_quality(quality: int) -> int:
    """Return `quality` if it is a JPEG/WebP quality (1..100), else raise `ImageError`."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ImageError(f"bad image quality {quality!r}; accepted: an integer from 1 to 100")
    return quality


@dataclass(frozen=True)
class SynthSpec:
    """What synthetic images look like: how big, which format, what quality, which seed."""

    size: SizeSpec
    fmt: ImageFormat
    quality: int = 85
    """JPEG/WebP quality 1..100; PNG is lossless and ignores it."""
    seed: int = 0
    """Image i is a pure function of (seed, i)."""

    @classmethod
    def parse(cls, size: str = "640x480", fmt: str = "jpeg", quality: int = 85, seed: int = 0) -> SynthSpec:
        """Build a spec from user text, raising `ImageError` on any bad value."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ImageError(f"bad image seed {seed!r}; accepted: an integer >= 0")
        return cls(parse_size_spec(size), parse_format(fmt), check_quality(quality), seed)


def _gradient(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A linear two-colour gradient at a random angle, lit by a soft radial spot.

    Built from a row and a column broadcast against each other, in float32: from full grids of
    coordinates in float64, the gradient of a 1920x1080 image took 0.29 s here, this way 0.05 s
    (the image's JPEG encode: 0.01 s).
    """
    angle = rng.uniform(0, 2 * np.pi)
    x = np.arange(width, dtype=np.float32)[None, :]
    y = np.arange(height, dtype=np.float32)[:, None]
    t = x * np.float32(np.cos(angle)) + y * np.float32(np.sin(angle))
    t -= t.min()
    t /= max(float(t.max()), 1.0)
    start, end = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    image = start + t[..., None] * (end - start)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    scale = np.float32(0.1 * (width * width + height * height))
    spot = np.exp(-((x - np.float32(cx)) ** 2) / scale) * np.exp(-((y - np.float32(cy)) ** 2) / scale)
    image += np.float32(60.0) * spot[..., None]
    return image


def _shape_points(width: int, height: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Three to seven points around a random centre, at most a quarter of the short side away."""
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    radius = rng.uniform(0.04, 0.25) * min(width, height)
    count = int(rng.integers(3, 8))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    reach = radius * rng.uniform(0.5, 1.0, count)
    xs, ys = cx + reach * np.cos(angles), cy + reach * np.sin(angles)
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def _draw_shapes(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Composite translucent ellipses, rectangles and polygons over `image`, then soften edges."""
    width, height = image.size
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _ in range(int(min(60, 8 + width * height // 20000))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3)) + (int(rng.integers(80, 230)),)
        points = _shape_points(width, height, rng)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        box = (min(xs), min(ys), max(xs), max(ys))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon(points, fill=colour)
    blended = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    return blended.filter(ImageFilter.GaussianBlur(1.0))


def render(
    width: int, height: int, rng: np.random.Generator, noise_sigma: float = NOISE_SIGMA
) -> Image.Image:
    """An RGB image of the given size: gradient, shapes, then Gaussian noise."""
    base = np.clip(_gradient(width, height, rng), 0, 255).astype(np.uint8)
    shaped = np.asarray(_draw_shapes(Image.fromarray(base), rng), dtype=np.float32)
    pixels = rng.standard_normal((height, width, 3), dtype=np.float32)  # the noise, then the image
    pixels *= np.float32(noise_sigma)
    pixels += shaped
    return Image.fromarray(np.clip(pixels, 0, 255, out=pixels).astype(np.uint8))


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator that decides everything about image `index` of `seed`."""
    return np.random.default_rng([seed, index])


def render_nth(spec: SynthSpec, index: int) -> Image.Image:
    """Image number `index` of `spec`, not yet encoded."""
    rng = image_rng(spec.seed, index)
    return render(*spec.size.pick(index, rng), rng)


def encode(image: Image.Image, fmt: ImageFormat, quality: int, **options: object) -> bytes:
    """Encode `image` with Pillow; `options` go to `Image.save` (e.g. restart markers, xmp)."""
    if fmt.name != "png":
        options["quality"] = quality
    out = io.BytesIO()
    image.save(out, fmt.pillow, **options)
    return out.getvalue()


def synthesize(spec: SynthSpec, index: int) -> EncodedImage:
    """Render and encode image number `index` of `spec`."""
    image = render_nth(spec, index)
    return EncodedImage.from_bytes(encode(image, spec.fmt, spec.quality), spec.fmt.mime, *image.size)
