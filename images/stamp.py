"""Distinct images per request without encoding on the hot path.

Each stamper is built once from a decoded image and then turns a code into a new encoded
image by splicing a few prepared bytes into the end of the file:

* JPEG (pixels differ): the image is encoded twice, the second time with slightly different
  pixels, with restart markers so each short run of blocks is coded on its own. Code bit k
  picks run k from the first or the second encoding; the file stays valid and decodes to
  different pixels for every code.
* PNG (pixels differ): the last pixel row goes into its own uncompressed (stored) deflate
  block in a small final IDAT chunk; the code is XORed into its first 8 bytes, then only the
  Adler-32 and that chunk's CRC are recomputed.
* WebP (bytes differ, pixels do not): lossy WebP cannot be changed without re-encoding, so
  the code is written as hex into an XMP metadata chunk at the end of the file. A server that
  caches by decoded pixels will still see the same image.

Only the changed tail is base64-encoded per image: the front's base64 is made once, cut at a
multiple of 3 bytes so the two halves join into the right `data:` URI.
"""

from __future__ import annotations

import base64
import zlib
from typing import Protocol

import numpy as np
from PIL import Image

from images.encoded import FORMATS, EncodedImage, ImageFormat, data_uri_prefix
from images.errors import ImageError
from images.synth import encode

MAX_CODE_BITS = 48
RUNS_PER_MCU_ROW = 16
_JPEG_MCU = 16  # 4:2:0 subsampling: one MCU covers 16x16 pixels
_XMP_MARK = b"llm-locust-id:"


class Stamper(Protocol):
    """Makes image variant number `code` (taken modulo 2**bits) from prepared bytes."""

    level: str
    """What differs between variants: "pixels", "bytes" or "none"."""
    bits: int
    """2**bits variants exist; codes that are equal modulo 2**bits give the same image."""

    def stamp(self, code: int) -> EncodedImage: ...

    @property
    def nbytes(self) -> int: ...


class _Splice:
    """The unchanging front of an encoded image with its base64 made once, joined to a new tail."""

    def __init__(self, data: bytes, start: int, mime: str, size: tuple[int, int]) -> None:
        cut = start - start % 3
        self.head = data[:cut]
        self.lead = data[cut:start]
        self.uri_head = data_uri_prefix(mime) + base64.b64encode(self.head).decode("ascii")
        self.mime = mime
        self.size = size

    def join(self, tail: bytes) -> EncodedImage:
        """The whole image: the front followed by `tail` (bytes from `start` to the end)."""
        tail = self.lead + tail
        uri = self.uri_head + base64.b64encode(tail).decode("ascii")
        return EncodedImage(self.head + tail, self.mime, *self.size, uri)

    @property
    def nbytes(self) -> int:
        return len(self.head) + len(self.uri_head) + len(self.lead)


class FixedImage:
    """A stamper that always gives the same image (pools without unique mode)."""

    level = "none"
    bits = 0

    def __init__(self, image: EncodedImage) -> None:
        self.image = image

    def stamp(self, code: int) -> EncodedImage:
        """The image itself; `code` is ignored."""
        return self.image

    @property
    def nbytes(self) -> int:
        return self.image.nbytes


def _jpeg_scan_start(data: bytes) -> int:
    """Offset of the first entropy-coded byte: walk the marker segments up to SOS."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 2 + length
        if marker == 0xDA:
            return pos
    raise ImageError("cannot stamp JPEG: no start-of-scan marker found")


def _jpeg_runs(data: bytes) -> tuple[bytes, list[bytes]]:
    """Split a baseline JPEG into its header and its restart runs (each ending in its RST marker)."""
    start = _jpeg_scan_start(data)
    scan = data[start:-2]
    runs, begin, pos = [], 0, scan.find(b"\xff")
    while 0 <= pos < len(scan) - 1:
        if 0xD0 <= scan[pos + 1] <= 0xD7:
            runs.append(scan[begin : pos + 2])
            begin = pos + 2
        pos = scan.find(b"\xff", pos + 2)
    runs.append(scan[begin:])
    return data[:start], runs


def _nudge(image: Image.Image, seed: int = 1) -> Image.Image:
    """`image` with every channel moved by a few levels, so most JPEG blocks code differently."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image, dtype=np.int16)
    nudged = pixels + rng.integers(-4, 5, pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(nudged, 0, 255).astype(np.uint8))


class JpegStamper:
    """Variants that differ in pixels, by choosing each of the last restart runs from one of
    two encodings of nearly the same image."""

    level = "pixels"

    def __init__(self, image: Image.Image, quality: int) -> None:
        image = image.convert("RGB")
        blocks = max(1, -(-image.width // _JPEG_MCU) // RUNS_PER_MCU_ROW)
        options = {"subsampling": 2, "restart_marker_blocks": blocks}
        first = encode(image, FORMATS["jpeg"], quality, **options)
        head, runs = _jpeg_runs(first)
        other_head, other_runs = _jpeg_runs(encode(_nudge(image), FORMATS["jpeg"], quality, **options))
        if head != other_head or len(runs) != len(other_runs):
            raise ImageError("cannot stamp JPEG: the two encodings do not share headers")
        varied = [i for i, (a, b) in enumerate(zip(runs, other_runs, strict=True)) if a != b][-MAX_CODE_BITS:]
        if not varied:
            raise ImageError(f"cannot stamp JPEG of {image.width}x{image.height}: no run varies")
        self.bits = len(varied)
        self._runs = runs[varied[0] :]
        self._choices = [(i - varied[0], other_runs[i]) for i in varied]
        start = len(head) + sum(len(r) for r in runs[: varied[0]])
        self._splice = _Splice(first, start, "image/jpeg", image.size)

    def stamp(self, code: int) -> EncodedImage:
        """Variant `code`: bit k set takes the k-th varied run from the second encoding."""
        parts = list(self._runs)
        for bit, (slot, other) in enumerate(self._choices):
            if code >> bit & 1:
                parts[slot] = other
        return self._splice.join(b"".join(parts) + b"\xff\xd9")

    @property
    def nbytes(self) -> int:
        return self._splice.nbytes + sum(map(len, self._runs)) + sum(len(o) for _, o in self._choices)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return len(payload).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")


def _png_split(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(bytes before the first IDAT, all IDAT payloads joined, bytes after the last IDAT)."""
    pos, first, last, payload = 8, -1, -1, []
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"IDAT":
            first = pos if first < 0 else first
            payload.append(data[pos + 8 : pos + 8 + length])
            last = pos + 12 + length
        pos += 12 + length
    return data[:first], b"".join(payload), data[last:]


class PngStamper:
    """Variants that differ in pixels: the code is XORed into the first bytes of the last row,
    which is kept uncompressed in its own final IDAT chunk."""

    level = "pixels"
    bits = 64

    def __init__(self, image: Image.Image) -> None:
        image = image.convert("RGB")
        before, payload, self._after = _png_split(encode(image, FORMATS["png"], 100))
        row_len = 1 + 3 * image.width
        body = zlib.decompress(payload)[:-row_len]
        packer = zlib.compressobj(6)
        front = before + _png_chunk(b"IDAT", packer.compress(body) + packer.flush(zlib.Z_SYNC_FLUSH))
        self._adler = zlib.adler32(body)
        self._row = b"\x00" + image.crop((0, image.height - 1, image.width, image.height)).tobytes()
        size = len(self._row)
        self._stored = b"\x01" + size.to_bytes(2, "little") + (size ^ 0xFFFF).to_bytes(2, "little")
        self._splice = _Splice(front, len(front), "image/png", image.size)

    def stamp(self, code: int) -> EncodedImage:
        """Variant `code`: the last row's first 8 bytes XOR the code (code 0 is the image itself)."""
        row = bytearray(self._row)
        mixed = int.from_bytes(row[1:9], "big") ^ (code & 0xFFFF_FFFF_FFFF_FFFF)
        row[1:9] = mixed.to_bytes(8, "big")
        check = zlib.adler32(row, self._adler).to_bytes(4, "big")
        return self._splice.join(_png_chunk(b"IDAT", self._stored + row + check) + self._after)

    @property
    def nbytes(self) -> int:
        return self._splice.nbytes + len(self._row) + len(self._after)


class WebpStamper:
    """Variants that differ in bytes only: the code is written as hex into an XMP chunk."""

    level = "bytes"
    bits = 64

    def __init__(self, image: Image.Image, quality: int) -> None:
        data = encode(image, FORMATS["webp"], quality, xmp=_XMP_MARK + b"0" * 16)
        start = data.rindex(_XMP_MARK) + len(_XMP_MARK)
        self._after = data[start + 16 :]
        self._splice = _Splice(data, start, "image/webp", image.size)

    def stamp(self, code: int) -> EncodedImage:
        """Variant `code`, written as 16 hex digits in the XMP chunk."""
        return self._splice.join(b"%016x" % (code & 0xFFFF_FFFF_FFFF_FFFF) + self._after)

    @property
    def nbytes(self) -> int:
        return self._splice.nbytes + len(self._after)


def make_stamper(image: Image.Image, fmt: ImageFormat, quality: int) -> Stamper:
    """The stamper for `fmt`, prepared from `image` (this is where all encoding happens)."""
    if fmt.name == "jpeg":
        return JpegStamper(image, quality)
    if fmt.name == "png":
        return PngStamper(image)
    return WebpStamper(image, quality)
