"""Images and image URLs from the user's files, checked up front with one-line errors."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, UnidentifiedImageError

from images.encoded import EncodedImage
from images.errors import ImageError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
"""20 MiB: the per-image limit OpenAI documents for chat image inputs."""
URL_SCHEMES = ("http", "https")


def _read_limited(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageError(f"image file {str(path)!r} is {size} bytes, over the limit of {max_bytes} bytes")
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"image file {str(path)!r} not found") from None
    except IsADirectoryError:
        raise ImageError(f"image file {str(path)!r} is a directory, not a file") from None
    except OSError as error:
        raise ImageError(f"cannot read image file {str(path)!r}: {error.strerror or error}") from None


def load_image_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> EncodedImage:
    """Load an image file as it is (no re-encoding) after checking that Pillow can decode all of it.

    Raises `ImageError` naming the file when it is missing, over `max_bytes`, not an image,
    truncated, or in a format without a known mime type.
    """
    path = Path(path)
    data = _read_limited(path, max_bytes)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            mime, size = Image.MIME.get(image.format or ""), image.size
    except UnidentifiedImageError:
        accepted = "JPEG, PNG, WebP, GIF"
        raise ImageError(f"image file {str(path)!r} is not an image; accepted: {accepted}") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"image file {str(path)!r} is too large to decode ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"image file {str(path)!r} is damaged: {error}") from None
    if mime is None:
        raise ImageError(f"image file {str(path)!r} has no known mime type; accepted: JPEG, PNG, WebP, GIF")
    return EncodedImage.from_bytes(data, mime, *size)


def _check_url(url: str, where: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as error:
        raise ImageError(f"{where}: bad URL {url!r} ({error})") from None
    if parts.scheme.lower() not in URL_SCHEMES or not parts.hostname:
        raise ImageError(f"{where}: {url!r} is not an http(s) URL; accepted: http://host/path or https://host/path")
    return url


def _line_url(line: str, where: str) -> str | None:
    """The URL on one line, or None for a blank or comment line; `url  # note` is allowed."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    url, *rest = text.split(None, 1)
    if rest and not rest[0].startswith("#"):
        raise ImageError(f"{where}: expected one URL per line, got {text!r}")
    return _check_url(url, where)


def load_url_list(path: str | Path) -> list[str]:
    """Read image URLs, one per line; blank lines and `#` comments are skipped.

    Every URL must be http or https with a host; an error names `file:line`.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ImageError(f"URL list {str(path)!r} not found") from None
    except UnicodeDecodeError:
        raise ImageError(f"URL list {str(path)!r} is not UTF-8 text") from None
    except OSError as error:
        raise ImageError(f"cannot read URL list {str(path)!r}: {error.strerror or error}") from None
    urls = [url for number, line in enumerate(lines, 1) if (url := _line_url(line, f"{path}:{number}"))]
    if not urls:
        raise ImageError(f"URL list {str(path)!r} has no URLs (one http(s) URL per line, # for comments)")
    return urls
