"""Image pools: built ahead, handed out in turn or at random, unique per call without encoding."""

import base64
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from images.errors import ImageError
from images.pool import ImagePool
from images.synth import SynthSpec


def spec(fmt="jpeg", size="64x48", seed=0):
    return SynthSpec.parse(size, fmt, quality=80, seed=seed)


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB")).tobytes()


def uri_bytes(uri: str) -> bytes:
    head, payload = uri.split(",", 1)
    assert head.endswith(";base64")
    return base64.b64decode(payload, validate=True)


def test_cycle_order_visits_every_image_in_turn():
    pool = ImagePool.synthesize(3, spec())
    first = [pool.next() for _ in range(3)]
    again = [pool.next() for _ in range(3)]
    assert len({image.data for image in first}) == 3
    assert [a is b for a, b in zip(first, again, strict=True)] == [True] * 3


def test_random_order_is_seeded():
    picks = []
    for _ in range(2):
        pool = ImagePool.synthesize(4, spec(seed=5), order="random")
        picks.append([pool.next().data for _ in range(20)])
    assert picks[0] == picks[1]
    assert len(set(picks[0])) > 1


def test_plain_pool_keeps_data_uri_of_its_bytes():
    image = ImagePool.synthesize(1, spec("png")).next()
    assert uri_bytes(image.data_uri) == image.data
    assert image.data_uri.startswith("data:image/png;base64,")


@pytest.mark.parametrize("fmt, level", [("jpeg", "pixels"), ("png", "pixels"), ("webp", "bytes")])
def test_unique_pool_gives_distinct_images_that_decode(fmt, level):
    pool = ImagePool.synthesize(2, spec(fmt, size="160x120"), unique=True, salt=0)
    images = [pool.next() for _ in range(40)]
    assert pool.unique and pool.unique_level == level
    assert len({image.data for image in images}) == 40
    assert len({image.data_uri for image in images}) == 40
    for image in images:
        assert uri_bytes(image.data_uri) == image.data
        with Image.open(io.BytesIO(image.data)) as decoded:
            decoded.load()
            assert decoded.size == (160, 120) == (image.width, image.height)
    distinct_pixels = len({pixels(image.data) for image in images})
    assert distinct_pixels == (40 if level == "pixels" else 2)


def test_unique_png_variant_zero_is_the_rendered_image():
    pool = ImagePool.synthesize(1, spec("png"), unique=True, salt=0)
    plain = ImagePool.synthesize(1, spec("png"))
    assert pixels(pool.next().data) == pixels(plain.next().data)


def test_unique_jpeg_variants_stay_close_to_the_picture():
    pool = ImagePool.synthesize(1, spec("jpeg", size="160x120"), unique=True, salt=0)
    base, other = (np.frombuffer(pixels(pool.next().data), np.uint8).astype(int) for _ in range(2))
    assert 0 < np.abs(base - other).mean() < 2


def test_salt_shifts_the_variants_so_processes_differ():
    one = ImagePool.synthesize(1, spec("png"), unique=True, salt=1)
    two = ImagePool.synthesize(1, spec("png"), unique=True, salt=1_000_000)
    assert {one.next().data for _ in range(5)}.isdisjoint({two.next().data for _ in range(5)})


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
@pytest.mark.parametrize("unique", [False, True])
def test_no_encoder_runs_after_build(monkeypatch, fmt, unique):
    pool = ImagePool.synthesize(2, spec(fmt), unique=unique)
    calls = []

    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(Image.Image, "save", counting("save", Image.Image.save))
    monkeypatch.setattr(Image, "new", counting("new", Image.new))
    monkeypatch.setattr(zlib, "compress", counting("compress", zlib.compress))
    monkeypatch.setattr(zlib, "compressobj", counting("compressobj", zlib.compressobj))
    for _ in range(50):
        pool.next()
    Image.new("RGB", (1, 1)).save(io.BytesIO(), "PNG")  # the counters do count
    assert calls == ["new", "save"]


def test_memory_counts_bytes_and_data_uris():
    pool = ImagePool.synthesize(3, spec())
    images = pool.samples()
    assert pool.memory_bytes == sum(len(i.data) + len(i.data_uri) for i in images)
    assert "3 images (image/jpeg; 64x48)" in pool.describe()
    assert "MiB held" in pool.describe()


def test_unique_pool_reports_its_memory_and_capacity():
    pool = ImagePool.synthesize(2, spec("jpeg", size="320x240"), unique=True)
    image = pool.next()
    assert pool.memory_bytes > len(image.data)
    assert pool.unique_bits == 48
    assert "unique per call (pixels differ, 2^48 variants)" in pool.describe()


def test_write_to_writes_one_decodable_file_per_image(tmp_path):
    pool = ImagePool.synthesize(2, spec("webp"))
    paths = pool.write_to(tmp_path / "out")
    assert [p.name for p in paths] == ["image-00000.webp", "image-00001.webp"]
    assert [p.read_bytes() for p in paths] == [i.data for i in pool.samples()]


def test_from_files_keeps_file_bytes(tmp_path):
    files = ImagePool.synthesize(2, spec("png")).write_to(tmp_path)
    pool = ImagePool.from_files(files)
    assert [pool.next().data for _ in range(2)] == [f.read_bytes() for f in files]
    assert not pool.unique


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_unique_pool_from_files_varies_each_call(tmp_path, fmt):
    files = ImagePool.synthesize(2, spec(fmt)).write_to(tmp_path)
    pool = ImagePool.from_files(files, unique=True, salt=0)
    images = [pool.next() for _ in range(6)]
    assert len({image.data for image in images}) == 6
    assert {(image.mime, image.width, image.height) for image in images} == {(f"image/{fmt}", 64, 48)}


def test_mixed_unique_pool_reports_its_weakest_level(tmp_path):
    files = ImagePool.synthesize(1, spec("png")).write_to(tmp_path / "a")
    files += ImagePool.synthesize(1, spec("webp")).write_to(tmp_path / "b")
    assert ImagePool.from_files(files, unique=True).unique_level == "bytes"
    assert ImagePool.from_files(files[:1], unique=True).unique_level == "pixels"


def test_unique_pool_from_a_gif_file_is_refused(tmp_path):
    path = tmp_path / "anim.gif"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(path, "GIF")
    with pytest.raises(ImageError, match=r"anim\.gif' is image/gif; unique mode accepts JPEG, PNG and WebP"):
        ImagePool.from_files([path], unique=True)


def test_pool_of_no_files_is_refused():
    with pytest.raises(ImageError, match="at least one image"):
        ImagePool.from_files([])


@pytest.mark.parametrize("count", [0, -1, 100_001, 2.5])
def test_bad_pool_size_is_refused(count):
    with pytest.raises(ImageError, match=f"pool size {count!r}"):
        ImagePool.synthesize(count, spec())


def test_bad_order_is_refused():
    with pytest.raises(ImageError, match="'shuffle'; accepted: cycle, random"):
        ImagePool.synthesize(1, spec(), order="shuffle")
