"""Images in chat requests: decode data: URIs, fetch allowed http(s) URLs, count vision tokens.

Vision-token rule (Qwen2-VL style, the emulator's stated truth): resize keeping the aspect ratio
so both sides are multiples of 28 px and the area lies within [56*56, 28*28*1280] pixels
(Qwen2-VL's `smart_resize`), then tokens = (height/28) * (width/28) + 2, the 2 being the
vision start/end markers. A 640x480 image gives 17*23 + 2 = 393. Real servers differ for the same
image (README, "Servers": 261 in vLLM/transformers with their processor settings, 418 in llama.cpp).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import ipaddress
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from PIL import Image

from emulator.validate import BadRequest, ImageRef

FACTOR = 28
MIN_PIXELS = 56 * 56
MAX_PIXELS = 28 * 28 * 1280
MAX_IMAGE_BYTES = 32 * 1024 * 1024
# Images up to this size are decoded on the event loop (well under a millisecond); larger ones in a
# worker thread. A thread hop for small ones costs more than it saves: GIL hand-offs delay timers.
INLINE_BYTES = 256 * 1024
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A decoded image: its kind ("base64" or "url"), original size and vision tokens."""

    kind: str
    width: int
    height: int
    tokens: int

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def smart_resize(height: int, width: int) -> tuple[int, int]:
    """Qwen2-VL's resize: sides multiples of 28, area within [MIN_PIXELS, MAX_PIXELS], aspect kept."""
    h_bar = max(FACTOR, round(height / FACTOR) * FACTOR)
    w_bar = max(FACTOR, round(width / FACTOR) * FACTOR)
    if h_bar * w_bar > MAX_PIXELS:
        beta = math.sqrt(height * width / MAX_PIXELS)
        h_bar = max(FACTOR, math.floor(height / beta / FACTOR) * FACTOR)
        w_bar = max(FACTOR, math.floor(width / beta / FACTOR) * FACTOR)
    elif h_bar * w_bar < MIN_PIXELS:
        beta = math.sqrt(MIN_PIXELS / (height * width))
        h_bar = math.ceil(height * beta / FACTOR) * FACTOR
        w_bar = math.ceil(width * beta / FACTOR) * FACTOR
    return h_bar, w_bar


def vision_tokens(width: int, height: int) -> int:
    h_bar, w_bar = smart_resize(height, width)
    return (h_bar // FACTOR) * (w_bar // FACTOR) + 2


def image_size(data: bytes, where: str) -> tuple[int, int]:
    """(width, height) of encoded image bytes, checked by Pillow's verify(); BadRequest if broken."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
            image.verify()
    except _DECODE_ERRORS as exc:
        raise BadRequest(f"{where}: cannot decode the image: {exc}", "messages") from None
    return size


def decode_data_uri(uri: str, where: str) -> bytes:
    """The bytes of a `data:image/<type>;base64,<data>` URI; BadRequest if it is not one."""
    header, sep, payload = uri.partition(",")
    if not sep or not header.startswith("data:image/") or not header.endswith(";base64"):
        raise BadRequest(f"{where}: data URI must look like data:image/<type>;base64,<data>", "messages")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise BadRequest(f"{where}: invalid base64 data: {exc}", "messages") from None


class ImageResolver:
    """Turns a request's image refs into ImageInfo, fetching URLs only from loopback or allowed hosts."""

    def __init__(self, allow_hosts: tuple[str, ...], timeout_s: float) -> None:
        self._allow_hosts = frozenset(allow_hosts)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def resolve(self, refs: tuple[ImageRef, ...]) -> list[ImageInfo]:
        return [await self._one(ref, f"image {i + 1}") for i, ref in enumerate(refs)]

    async def _one(self, ref: ImageRef, where: str) -> ImageInfo:
        if ref.kind == "base64":
            width, height = await _run(_decode_and_measure, len(ref.url), ref.url, where)
        else:
            data = await self._fetch(ref.url, where)
            width, height = await _run(image_size, len(data), data, where)
        return ImageInfo(ref.kind, width, height, vision_tokens(width, height))

    def allowed(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        if host == "localhost" or host in self._allow_hosts:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    async def _fetch(self, url: str, where: str) -> bytes:
        if not self.allowed(url):
            raise BadRequest(
                f"{where}: {url[:80]!r} is not fetched; accepted hosts: loopback or --image-url-allow",
                "messages",
            )
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(url, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise BadRequest(f"{where}: fetching {url[:80]!r} gave HTTP {resp.status}", "messages")
                return await _read_capped(resp, where)
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise BadRequest(f"{where}: fetching {url[:80]!r} failed: {reason}", "messages") from None


async def _run(work: Callable[..., tuple[int, int]], size: int, *args: Any) -> tuple[int, int]:
    return work(*args) if size <= INLINE_BYTES else await asyncio.to_thread(work, *args)


def _decode_and_measure(uri: str, where: str) -> tuple[int, int]:
    return image_size(decode_data_uri(uri, where), where)


async def _read_capped(resp: aiohttp.ClientResponse, where: str) -> bytes:
    data = bytearray()
    async for block in resp.content.iter_chunked(1 << 16):
        data += block
        if len(data) > MAX_IMAGE_BYTES:
            raise BadRequest(f"{where}: image larger than {MAX_IMAGE_BYTES} bytes", "messages")
    return bytes(data)
