"""HTTP for streamed requests, on geventhttpclient: headers in, then lines as they arrive.

``readline(b"\\n")`` returns as soon as a newline is buffered, so every SSE line is
stamped when its bytes arrive (LOCUST-NOTES section 2); readers that fill a buffer first
(``read(n)``, ``iter_content``) would batch tokens and ruin TTFT and ITL.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPSocketPoolResponse

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class Target:
    """Where requests go: scheme, host, port and an optional path prefix (e.g. a gateway's)."""

    scheme: str
    host: str
    port: int
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> Target:
        """Parse ``http(s)://host[:port][/prefix]``; ``ValueError`` names the bad value."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--host {url!r}: expected http://HOST[:PORT] or https://HOST[:PORT]")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"--host {url!r}: bad port") from None
        prefix = parts.path.rstrip("/")
        if prefix.endswith("/v1"):
            prefix = prefix[:-3]
        return cls(parts.scheme, parts.hostname, port, prefix)

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK or self.host.startswith("127.")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.prefix}"


class StreamingHttp:
    """One kept-alive connection to the target (one per simulated user).

    ``post`` returns once the status line and headers are in; the caller reads the body
    line by line with ``response.readline(b"\\n")`` and must hand the response back to
    :meth:`finish`, which reuses the connection only when the body was read to its end.
    """

    def __init__(
        self,
        target: Target,
        headers: dict[str, str],
        connect_timeout: float = 10.0,
        verify_tls: bool = True,
    ) -> None:
        self.target = target
        self._headers = {
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
            **headers,
        }
        self._kw = {
            "connection_timeout": connect_timeout,
            # No per-read socket timeout: gevent arms a timer for every blocking read, ~10 µs a
            # token on this path; the client's IdleWatchdog enforces the idle timeout instead.
            "network_timeout": None,
            "concurrency": 1,
            "block_size": 65536,
        }
        if target.scheme == "https":
            self._kw["ssl"] = True
            if not verify_tls:
                self._kw["insecure"] = True
                self._kw["ssl_options"] = {"cert_reqs": ssl.CERT_NONE}
        self._client = self._connect()

    def _connect(self) -> HTTPClient:
        return HTTPClient(self.target.host, self.target.port, **self._kw)

    def post(self, path: str, body: bytes, accept: str) -> HTTPSocketPoolResponse:
        """Send a JSON body; return the response with its headers read."""
        headers = {**self._headers, "Accept": accept}
        return self._client.request("POST", self.target.prefix + path, body=body, headers=headers)

    def finish(self, response: HTTPSocketPoolResponse | None) -> None:
        """Give the connection back, or drop it when the body was not read to its end."""
        if response is not None and response.message_complete:
            response.release()
            return
        self._client.close()
        self._client = self._connect()

    def close(self) -> None:
        self._client.close()
