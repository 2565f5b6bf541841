"""Unique variants are well-formed files, not just files Pillow happens to tolerate."""

import io
import zlib

import numpy as np
from PIL import Image

from images.encoded import FORMATS
from images.stamp import JpegStamper, PngStamper, WebpStamper
from images.synth import SynthSpec, encode, render_nth

PICTURE = render_nth(SynthSpec.parse("200x150", "png", seed=4), 0)
ALL_BITS = (1 << 64) - 1


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every chunk as (type, payload), checking each CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big")
        assert zlib.crc32(kind + payload) == crc, kind
        chunks.append((kind, payload))
        pos += 12 + length
    return chunks


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_png_variants_have_valid_crcs_and_zlib_checksum():
    stamper = PngStamper(PICTURE)
    for code in (0, 1, 0xDEADBEEF, ALL_BITS):
        chunks = png_chunks(stamper.stamp(code).data)
        assert [kind for kind, _ in chunks][-1] == b"IEND"
        raw = zlib.decompress(b"".join(p for kind, p in chunks if kind == b"IDAT"))  # checks Adler-32
        assert len(raw) == 150 * (1 + 200 * 3)


def test_png_variant_changes_only_the_start_of_the_last_row():
    stamper = PngStamper(PICTURE)
    diff = np.argwhere(decoded(stamper.stamp(ALL_BITS).data) != np.asarray(PICTURE, dtype=np.int16))
    assert len(diff) == 8
    assert set(diff[:, 0]) == {149} and diff[:, 1].max() <= 2


def restart_markers(data: bytes) -> list[int]:
    scan = data[data.index(b"\xff\xda") :]
    return [scan[i + 1] for i in range(len(scan) - 1) if scan[i] == 0xFF and 0xD0 <= scan[i + 1] <= 0xD7]


def test_jpeg_variants_keep_restart_markers_in_sequence():
    stamper = JpegStamper(PICTURE, 85)
    for code in (0, 1, 0x5555_5555_5555, ALL_BITS):
        markers = restart_markers(stamper.stamp(code).data)
        assert markers == [0xD0 + i % 8 for i in range(len(markers))]
        assert len(markers) > stamper.bits


def test_jpeg_variant_zero_is_the_plain_restart_encoding():
    stamper = JpegStamper(PICTURE, 85)
    plain = encode(PICTURE, FORMATS["jpeg"], 85, subsampling=2, restart_marker_blocks=1)
    assert stamper.stamp(0).data == plain


def test_jpeg_variants_differ_only_near_the_bottom():
    stamper = JpegStamper(PICTURE, 85)
    base, other = decoded(stamper.stamp(0).data), decoded(stamper.stamp(ALL_BITS).data)
    changed_rows = np.flatnonzero((base != other).any(axis=(1, 2)))
    assert changed_rows.size and changed_rows.min() >= 150 - 4 * 16
    assert np.abs(base - other).mean() < 1


def test_webp_variants_change_only_the_xmp_id():
    stamper = WebpStamper(PICTURE, 80)
    one, two = stamper.stamp(1).data, stamper.stamp(2).data
    assert len(one) == len(two) and one != two
    assert b"llm-locust-id:0000000000000001" in one
    assert int.from_bytes(one[4:8], "little") == len(one) - 8  # RIFF size still right
    assert (decoded(one) == decoded(two)).all()
