"""Encoded images as they are sent: bytes, mime type, size and a ready `data:` URI."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from images.errors import ImageError


@dataclass(frozen=True, slots=True)
class ImageFormat:
    """An output format: its short name, Pillow's name for it, mime type and file suffix."""

    name: str
    pillow: str
    mime: str
    suffix: str


FORMATS: dict[str, ImageFormat] = {
    "jpeg": ImageFormat("jpeg", "JPEG", "image/jpeg", ".jpg"),
    "png": ImageFormat("png", "PNG", "image/png", ".png"),
    "webp": ImageFormat("webp", "WEBP", "image/webp", ".webp"),
}
_ALIASES = {"jpg": "jpeg"}


def parse_format(text: str) -> ImageFormat:
    """Return the format named by `text` (jpeg, jpg, png or webp, any case)."""
    key = text.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise ImageError(f"unknown image format {text!r}; accepted: jpeg (or jpg), png, webp")
    return FORMATS[key]


def data_uri_prefix(mime: str) -> str:
    """The text that comes before the base64 payload in a `data:` URI."""
    return f"data:{mime};base64,"


@dataclass(frozen=True, slots=True)
class EncodedImage:
    """One encoded image, ready to send: as raw bytes (for upload or a file server)
    or as a `data:` URI (for an `image_url` part of a chat message)."""

    data: bytes
    mime: str
    width: int
    height: int
    data_uri: str

    @classmethod
    def from_bytes(cls, data: bytes, mime: str, width: int, height: int) -> EncodedImage:
        """Wrap encoded bytes, computing the `data:` URI once."""
        uri = data_uri_prefix(mime) + base64.b64encode(data).decode("ascii")
        return cls(data, mime, width, height, uri)

    @property
    def nbytes(self) -> int:
        """Memory held by the bytes and the URI payloads (object headers left out)."""
        return len(self.data) + len(self.data_uri)
