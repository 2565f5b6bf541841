"""Multimodal chat traffic: the text prompt plus N images, as URLs or as base64 data URIs."""

from __future__ import annotations

from payloads.multimodal import attach_images
from streaming.record import RequestRecord
from users.text import TextChatUser


class Base64ImageChatUser(TextChatUser):
    """Sends the prompt with ``--images-per-request`` images inlined as ``data:`` URIs."""

    traffic_class = "base64"

    def next_request(self) -> tuple[dict, RequestRecord]:
        body, record = super().next_request()
        supply = self.runtime.images
        uris = supply.data_uris()
        body["messages"] = attach_images(body["messages"], uris, supply.options.text_first)
        record.images = len(uris)
        return body, record


class ImageUrlChatUser(TextChatUser):
    """Sends the prompt with image URLs the target fetches (a list file, or this run's server)."""

    traffic_class = "image-url"

    def next_request(self) -> tuple[dict, RequestRecord]:
        body, record = super().next_request()
        supply = self.runtime.images
        urls = supply.urls()
        body["messages"] = attach_images(body["messages"], urls, supply.options.text_first)
        record.images = len(urls)
        return body, record
