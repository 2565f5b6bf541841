"""The batch client's HTTP: one kept-alive geventhttpclient connection, whole answers read.

Batch calls are few and their answers small (a batch object) or read whole (a result file),
so nothing here is stamped per read as the streaming client is; the time of a call is taken
around it by :class:`~batch.client.BatchRun`.
"""

from __future__ import annotations

import ssl

from geventhttpclient import HTTPClient

from batch.client import Reply


class BatchHttp:
    """Requests to one target (``scheme``, ``host``, ``port``, path ``prefix``), one at a time."""

    def __init__(
        self, scheme: str, host: str, port: int, prefix: str = "", headers: dict[str, str] | None = None,
        connect_timeout: float = 10.0, read_timeout: float = 60.0, verify_tls: bool = True,
    ) -> None:
        self._prefix = prefix
        self._headers = {"Accept-Encoding": "identity", **(headers or {})}
        kw: dict = {"connection_timeout": connect_timeout, "network_timeout": read_timeout,
                    "concurrency": 1, "block_size": 65536}
        if scheme == "https":
            kw["ssl"] = True
            if not verify_tls:
                kw.update(insecure=True, ssl_options={"cert_reqs": ssl.CERT_NONE})
        self._client = HTTPClient(host, port, **kw)

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> Reply:
        headers = dict(self._headers)
        if content_type:
            headers["Content-Type"] = content_type
        response = self._client.request(method, self._prefix + path, body=body or b"", headers=headers)
        try:
            return Reply(response.status_code, response.read())
        finally:
            response.release()

    def close(self) -> None:
        self._client.close()
