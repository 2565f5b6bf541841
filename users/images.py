"""Multimodal chat traffic: the text prompt plus N images, as URLs or as base64 data URIs."""

from __future__ import annotations

from payloads.multimodal import attach_images
from streaming.record import RequestRecord
from users.text import TextChatUser


class ImageChatUser(TextChatUser):
    """The text prompt with ``--images-per-request`` images after (or before) it."""

    abstract = True
    sends_images = True

    def image_refs(self) -> list[str]:
        """The image references for the next request."""
        raise NotImplementedError

    def next_request(self) -> tuple[dict, RequestRecord]:
        body, record = super().next_request()
        refs = self.image_refs()
        body["messages"] = attach_images(body["messages"], refs, self.runtime.images.options.text_first)
        record.images = len(refs)
        record.image_pixels, record.image_bytes = self.runtime.images.drawn
        return body, record


class Base64ImageChatUser(ImageChatUser):
    """Images inlined as ``data:`` URIs, from a pool built before the run."""

    traffic_class = "base64"

    def image_refs(self) -> list[str]:
        return self.runtime.images.data_uris()


class ImageUrlChatUser(ImageChatUser):
    """Image URLs the target fetches: a ``--image-url-file``, or this run's own image server."""

    traffic_class = "image-url"

    def image_refs(self) -> list[str]:
        return self.runtime.images.urls()
