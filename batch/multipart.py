"""The ``multipart/form-data`` body of a file upload (``POST /v1/files``), built by hand.

Two parts, as the OpenAI SDK's ``files.create(file=..., purpose="batch")`` sends them: the
``purpose`` field, then the ``file`` with its name. The boundary is random and checked not to
occur in the file.
"""

from __future__ import annotations

import os


def upload_body(data: bytes, filename: str, purpose: str = "batch") -> tuple[bytes, str]:
    """The body and its ``Content-Type`` header value."""
    boundary = _boundary(data)
    dash = b"--" + boundary
    body = b"".join([
        dash, b"\r\n",
        b'Content-Disposition: form-data; name="purpose"\r\n\r\n', purpose.encode(), b"\r\n",
        dash, b"\r\n",
        b'Content-Disposition: form-data; name="file"; filename="', _quoted(filename), b'"\r\n',
        b"Content-Type: application/jsonl\r\n\r\n", data, b"\r\n",
        dash, b"--\r\n",
    ])
    return body, f"multipart/form-data; boundary={boundary.decode()}"


def _boundary(data: bytes) -> bytes:
    while True:
        boundary = b"llm-batch-" + os.urandom(12).hex().encode()
        if boundary not in data:
            return boundary


def _quoted(filename: str) -> bytes:
    return filename.replace("\\", "_").replace('"', "_").replace("\r", "").replace("\n", "").encode()
