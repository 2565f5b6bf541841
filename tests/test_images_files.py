"""Image files and URL lists from the user: checked up front, errors name the file (and line)."""

import pytest

from images.errors import ImageError
from images.files import load_image_file, load_url_list
from images.synth import SynthSpec, synthesize


@pytest.fixture
def jpeg_file(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(synthesize(SynthSpec.parse("80x60", "jpeg"), 0).data)
    return path


def test_image_file_loads_as_is_with_mime_and_size(jpeg_file):
    image = load_image_file(jpeg_file)
    assert image.data == jpeg_file.read_bytes()
    assert (image.mime, image.width, image.height) == ("image/jpeg", 80, 60)
    assert image.data_uri.startswith("data:image/jpeg;base64,/9j/")


def test_missing_image_file_is_named(tmp_path):
    with pytest.raises(ImageError, match=r"image file '.*nope\.png' not found"):
        load_image_file(tmp_path / "nope.png")


def test_non_image_file_is_named(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a picture")
    with pytest.raises(ImageError, match=r"image file '.*notes\.jpg' is not an image"):
        load_image_file(path)


def test_truncated_image_file_is_named(tmp_path, jpeg_file):
    path = tmp_path / "cut.jpg"
    path.write_bytes(jpeg_file.read_bytes()[:600])
    with pytest.raises(ImageError, match=r"image file '.*cut\.jpg' is damaged"):
        load_image_file(path)


def test_image_over_the_limit_is_named_with_sizes(jpeg_file):
    size = jpeg_file.stat().st_size
    with pytest.raises(ImageError, match=rf"'.*photo\.jpg' is {size} bytes, over the limit of 1000 bytes"):
        load_image_file(jpeg_file, max_bytes=1000)


def test_folder_given_as_image_file_is_named(tmp_path):
    with pytest.raises(ImageError, match="is a directory"):
        load_image_file(tmp_path)


def test_url_list_skips_blanks_and_comments(tmp_path):
    path = tmp_path / "urls.txt"
    path.write_text(
        "# images for the run\n\nhttp://127.0.0.1:8000/a.jpg\n"
        "   https://example.com/b.png?x=1#frag   # second\n\t\n"
    )
    assert load_url_list(path) == ["http://127.0.0.1:8000/a.jpg", "https://example.com/b.png?x=1#frag"]


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("ftp://example.com/a.jpg", "not an http"),
        ("example.com/a.jpg", "not an http"),
        ("http:///a.jpg", "not an http"),
        ("http://host:99999/a.jpg", "bad URL"),
        ("http://a/x.jpg http://b/y.jpg", "one URL per line"),
    ],
)
def test_bad_url_line_gives_file_and_line(tmp_path, bad, reason):
    path = tmp_path / "urls.txt"
    path.write_text(f"# header\nhttp://ok/1.jpg\n{bad}\n")
    with pytest.raises(ImageError) as caught:
        load_url_list(path)
    assert str(caught.value).startswith(f"{path}:3: ")
    assert reason in str(caught.value)


def test_url_list_without_urls_is_refused(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("# nothing yet\n\n")
    with pytest.raises(ImageError, match=r"'.*empty\.txt' has no URLs"):
        load_url_list(path)


def test_missing_url_list_is_named(tmp_path):
    with pytest.raises(ImageError, match=r"URL list '.*gone\.txt' not found"):
        load_url_list(tmp_path / "gone.txt")
