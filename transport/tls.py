"""TLS settings as one explicit :class:`ssl.SSLContext`: verified by default, really off with ``--insecure``.

geventhttpclient ignored ``ssl_options["cert_reqs"]``, so ``--insecure`` left ``verify_mode`` at
``CERT_REQUIRED`` and a self-signed target failed; here the context is built once from the
settings and handed to every connection, and the tests hold each case against a TLS emulator.
"""

from __future__ import annotations

import functools
import ssl


@functools.lru_cache(maxsize=8)
def client_context(verify: bool = True, ca_cert: str | None = None) -> ssl.SSLContext:
    """The context for connections to the target.

    ``verify``: the certificate chain and the host name are checked, against the system's CAs,
    or only against ``ca_cert`` (a PEM file: a private CA) when given. Not ``verify``: neither
    is checked (``--insecure``). HTTP/1.1 is offered by ALPN.
    """
    if verify:
        context = ssl.create_default_context(cafile=ca_cert)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def describe(exc: ssl.SSLError) -> str:
    """A one-line reason for a TLS failure, with the flag that changes it where there is one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = exc.verify_message or exc.reason or "certificate verify failed"
        return (f"certificate verify failed: {message} (a private CA: --ca-cert FILE; "
                "no verification: --insecure)")
    return exc.reason or exc.__class__.__name__
