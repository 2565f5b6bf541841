"""Synthetic images: size specs, formats, quality, seeds, realistic compressed sizes."""

import io

import numpy as np
import pytest
from PIL import Image

from images.encoded import parse_format
from images.errors import ImageError
from images.synth import FixedSizes, SynthSpec, UniformSizes, parse_size_spec, synthesize


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_fixed_size_spec_is_one_size():
    assert parse_size_spec("640x480") == FixedSizes(((640, 480),))


def test_size_list_is_used_in_turn():
    spec = parse_size_spec(" 640x480, 1280X720 ")
    rng = np.random.default_rng(0)
    assert [spec.pick(i, rng) for i in range(3)] == [(640, 480), (1280, 720), (640, 480)]


def test_uniform_square_side_stays_in_range_and_square():
    spec = parse_size_spec("uniform:256-1024")
    assert spec == UniformSizes((256, 256), (1024, 1024), square=True)
    rng = np.random.default_rng(1)
    sizes = [spec.pick(i, rng) for i in range(200)]
    assert all(w == h and 256 <= w <= 1024 for w, h in sizes)
    assert len(set(sizes)) > 50


def test_uniform_rectangle_draws_width_and_height_apart():
    spec = parse_size_spec("uniform:256x256-1024x768")
    rng = np.random.default_rng(2)
    sizes = [spec.pick(i, rng) for i in range(200)]
    assert all(256 <= w <= 1024 and 256 <= h <= 768 for w, h in sizes)
    assert any(w != h for w, h in sizes)


@pytest.mark.parametrize(
    "text",
    ["", "640", "640x", "x480", "640*480", "640x480,", "0x480", "640x99999", "uniform:", "uniform:100",
     "uniform:1024-256", "uniform:256x256-128x128", "uniform:256-300-400", "uniform:256x256-512",
     "normal:256-512", "12x12"],
)
def test_bad_size_spec_names_value_and_accepted_forms(text):
    with pytest.raises(ImageError) as caught:
        parse_size_spec(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "accepted: WxH" in message and "uniform:MIN-MAX" in message
    assert "\n" not in message


@pytest.mark.parametrize("name, mime", [("JPEG", "image/jpeg"), ("jpg", "image/jpeg"), ("png", "image/png"),
                                        ("WebP", "image/webp")])
def test_format_names_are_case_insensitive(name, mime):
    assert parse_format(name).mime == mime


def test_unknown_format_lists_accepted_ones():
    with pytest.raises(ImageError, match=r"'gif'.*accepted: jpeg \(or jpg\), png, webp"):
        parse_format("gif")


@pytest.mark.parametrize("quality", [0, 101, -5, 85.5, "85", True])
def test_bad_quality_is_refused(quality):
    with pytest.raises(ImageError, match="quality"):
        SynthSpec.parse("64x64", "jpeg", quality=quality)


def test_negative_seed_is_refused():
    with pytest.raises(ImageError, match="seed -1"):
        SynthSpec.parse(seed=-1)


@pytest.mark.parametrize("fmt, pillow_name", [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")])
def test_each_format_decodes_back_to_the_asked_size(fmt, pillow_name):
    spec = SynthSpec.parse("96x64,48x80", fmt)
    for index, size in enumerate([(96, 64), (48, 80)]):
        image = synthesize(spec, index)
        decoded = decode(image.data)
        assert decoded.format == pillow_name
        assert decoded.size == size == (image.width, image.height)
        assert image.data_uri.startswith(f"data:image/{fmt};base64,")


def test_same_seed_and_index_give_the_same_image_and_others_differ():
    spec = SynthSpec.parse("64x64", "png", seed=7)
    assert synthesize(spec, 3).data == synthesize(spec, 3).data
    assert synthesize(spec, 3).data != synthesize(spec, 4).data
    assert synthesize(spec, 3).data != synthesize(SynthSpec.parse("64x64", "png", seed=8), 3).data


def test_lower_quality_gives_smaller_jpeg():
    small = synthesize(SynthSpec.parse("160x120", "jpeg", quality=30), 0)
    large = synthesize(SynthSpec.parse("160x120", "jpeg", quality=95), 0)
    assert len(small.data) < len(large.data)


def test_compressed_size_is_photo_like_not_flat():
    """A flat 640x480 JPEG is ~5 KB; photos at quality 85 are tens of KB."""
    image = synthesize(SynthSpec.parse("640x480", "jpeg", quality=85), 0)
    assert 30_000 < len(image.data) < 200_000
    pixels = np.asarray(decode(image.data), dtype=np.float32)
    assert pixels.std() > 20
