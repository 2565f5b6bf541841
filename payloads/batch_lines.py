"""Chat requests as Batch API input lines: ``(custom_id, body)`` pairs from the payload factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from payloads.multimodal import attach_images
from payloads.request import SampleRequest


def batch_lines(
    count: int,
    sample: Callable[[], SampleRequest],
    body_for: Callable[[SampleRequest], dict],
    images: Callable[[], list[str]] | None = None,
    text_first: bool = True,
    tag: str = "",
) -> Iterator[tuple[str, dict]]:
    """``count`` lines: each sample's body, answered whole (no ``stream``), with ``images()`` attached
    to its last user message when given. A sample's own ``custom_id`` (a ``--dataset`` Batch line's)
    is kept while it is unique in the file; other lines are ``{tag}-{index}``."""
    used: set[str] = set()
    for index in range(count):
        request = sample()
        body = body_for(request)
        body.pop("stream", None)
        body.pop("stream_options", None)
        if images is not None:
            body["messages"] = attach_images(body["messages"], images(), text_first)
        custom_id = request.custom_id
        if not custom_id or custom_id in used:
            custom_id = f"{tag}-{index}" if tag else str(index)
        used.add(custom_id)
        yield custom_id, body
