"""One small HTTP GET of a ``/metrics`` page, on geventhttpclient (cooperative under gevent).

A fresh connection per scrape (one every couple of seconds: nothing to keep alive), a timeout
on connecting, on each read and on the whole exchange, and a cap on the body. Redirects are
followed a few hops; the request's headers (the API key) go along only while the redirect
stays on the same scheme, host and port, so a ``Location`` elsewhere never receives them.
Every failure is a :class:`FetchError` whose message is the one-line reason a report shows.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import gevent
import orjson
from geventhttpclient import HTTPClient

REDIRECTS = (301, 302, 303, 307, 308)
MAX_HOPS = 3
MAX_BYTES = 32 * 2**20
"""A /metrics page larger than this is refused (vLLM's, one model, is about 55 KB)."""
ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"
"""Prometheus' classic text format (a server that also speaks OpenMetrics keeps to this one)."""


class FetchError(Exception):
    """A scrape that brought no page; ``str()`` is the reason, one line."""


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``: where credentials may go."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def fetch(url: str, headers: Mapping[str, str], timeout: float, verify_tls: bool = True) -> str:
    """The body of ``GET url`` as text, when the answer is 200; else :class:`FetchError`."""
    home = origin(url)
    for _ in range(MAX_HOPS + 1):
        sent = dict(headers) if origin(url) == home else {}
        try:
            with gevent.Timeout(2 * timeout, TimeoutError(f"no answer within {2 * timeout:g} s")):
                status, location, body = _get(url, sent, timeout, verify_tls)
        except FetchError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the network does, the reason is reported
            raise FetchError(_network_reason(exc, timeout)) from None
        if status in REDIRECTS and location:
            url = urljoin(url, location)
            continue
        if status != 200:
            raise FetchError(f"HTTP {status}{_error_message(status, body)}")
        return body.decode("utf-8", errors="replace")
    raise FetchError(f"more than {MAX_HOPS} redirects")


def _get(url: str, headers: dict[str, str], timeout: float, verify_tls: bool) -> tuple[int, str, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"cannot fetch {url!r}: expected an http(s) URL")
    kw: dict = {"connection_timeout": timeout, "network_timeout": timeout, "concurrency": 1}
    if parts.scheme == "https":
        kw["ssl"] = True
        if not verify_tls:
            kw.update(insecure=True, ssl_options={"cert_reqs": ssl.CERT_NONE})
    client = HTTPClient(parts.hostname, parts.port, **kw)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        response = client.get(path, headers={"Accept": ACCEPT, "Accept-Encoding": "identity", **headers})
        try:
            return response.status_code, response.get("location") or "", _read_capped(response)
        finally:
            response.release()
    finally:
        client.close()


def _read_capped(response) -> bytes:
    chunks, size = [], 0
    while chunk := response.read(65536):
        size += len(chunk)
        if size > MAX_BYTES:
            raise FetchError(f"the answer is larger than {MAX_BYTES // 2**20} MB")
        chunks.append(chunk)
    return b"".join(chunks)


def _network_reason(exc: Exception, timeout: float) -> str:
    if isinstance(exc, TimeoutError):  # a socket's (connect, a read) or the whole exchange's
        whole = str(exc).startswith("no answer")
        return f"timeout: {exc}" if whole else f"timeout: no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"cannot fetch: {text[:120]}"


def _error_message(status: int, body: bytes) -> str:
    """``": <message>"`` from an OpenAI-style JSON error body (llama-server's 501), else the body's
    first line when it is text (not HTML; without a repeat of the status: aiohttp's
    ``404: Not Found``), else nothing."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        lines = body[:200].decode("utf-8", errors="replace").strip().splitlines()
        line = lines[0].strip().removeprefix(str(status)).lstrip(": ") if lines else ""
        return f": {line[:120]}" if line and not line.startswith("<") else ""
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error if isinstance(error, str) else None
    if message is None and isinstance(data, dict):
        message = data.get("detail") or data.get("message")
    return f": {' '.join(str(message).split())[:160]}" if message else ""
