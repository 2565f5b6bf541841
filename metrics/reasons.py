"""Failure reasons grouped by cause: the numbers and ids a server's message carries are masked.

A server's error text embeds what varies per request (vLLM's context-length 400 names the
tokens requested; others echo ids, the caller's input or a retry delay), so one cause would
fill many rows of a report. :func:`group_reason` turns a raw reason into its group key, still
readable: numbers become ``N``, ids ``<id>``, echoed input ``'…'``.

The rule for the project's own reasons: those whose detail comes from our options or from the
connection we opened (``timeout: no bytes for 60 s``, ``connection refused: HOST``,
``cancelled: ...``, ``TLS error: ...``, ``expected text/event-stream, got ...``) are already one
key a cause and stay as they are; in ``HTTP 429: <message>`` the status stays and the server's
message is masked, as is the rest of any other reason (``error in stream: ...``, an exception's
text). ``[Errno 111]`` stays too: the number names the cause.

The key is cut at :data:`KEY_LIMIT` characters, at a word boundary, below where the raw
message was cut: two messages cut after a different number of digits still share a key.
"""

from __future__ import annotations

import re

from streaming.chunks import shorten

KEY_LIMIT = 120
"""Characters of a group key; under the raw message's limit less what masking removes from it."""

OWN_REASONS = (
    "timeout: ", "cancelled: ", "connection refused: ", "cannot resolve host: ", "TLS error: ",
    "expected text/event-stream, got ",
)
"""Prefixes of reasons this project makes whole, with details from its own options: kept as they are."""

_STATUS = re.compile(r"(HTTP \d{3})(?:: (.*))?", re.DOTALL)


def _whole(body: str) -> str:
    """``body`` as a whole run of letters and digits, not part of a longer one."""
    return rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])"


_HEX = "[0-9a-fA-F]"
_MASKS = (
    (re.compile(r"(data:[\w/+.-]+;base64,)[A-Za-z0-9+/=]*"), r"\1…"),  # an inlined image
    (re.compile(r"(input_value=)(?:(?!, input_type=).)*"), r"\1…"),  # pydantic echoing the input
    (re.compile(_whole(r"(['\"])(?:[^'\"\s]*\s){3,}[^'\"]*\1")), r"\1…\1"),  # quoted text of 4+ words
    (re.compile(_whole(rf"{_HEX}{{8}}-(?:{_HEX}{{4}}-){{3}}{_HEX}{{12}}")), "<id>"),  # a UUID
    (re.compile(_whole(rf"(?={_HEX}*[a-fA-F])(?={_HEX}*\d){_HEX}{{8,}}")), "<id>"),  # a hex id
    (re.compile(_whole(r"(?=(?:[A-Za-z]*\d){2})(?=\d*[A-Za-z])[A-Za-z0-9]{12,}")), "<id>"),  # a mixed id
    (re.compile(_whole(r"\d+x\d+")), "NxN"),  # a size, as 640x480
    (re.compile(r"(?<![A-Za-z0-9_])(?<![A-Za-z0-9][-.])(?<!\[Errno )\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?"), "N"),
)
"""(pattern, replacement), in this order. Digits inside a word or after a joining hyphen or dot
are a name or a version (``Qwen3-8B``, ``gpt-4``, ``messages.0``) and stay, as does ``[Errno 111]``;
an id needs 8+ hex digits with a letter, or 12+ letters and digits with two digits
(``Qwen2VLForConditionalGeneration`` stays)."""


def group_reason(raw: str) -> str:
    """The group key of a failure reason: one key per cause, still readable."""
    if raw.startswith(OWN_REASONS):
        return raw
    status = _STATUS.fullmatch(raw)
    if status is None:
        return shorten(_mask(raw), KEY_LIMIT)
    head, message = status.groups()
    return shorten(f"{head}: {_mask(message)}", KEY_LIMIT) if message else head


def _mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text
