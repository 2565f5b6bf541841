"""`python -m emulator`: start the OpenAI-compatible emulator (see --help).

``--tls-cert FILE --tls-key FILE`` serve HTTPS instead (PEM files; a test CA's, for the client's
TLS tests); the announced URL is then ``https://``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import sys
from collections.abc import Sequence

from emulator.config import ConfigError, EmulatorConfig, parse_args
from emulator.net import listen
from emulator.server import Emulator, serve
from emulator.tokens import load_tokenizer

try:
    import uvloop
except ImportError:  # uvloop is optional: fall back to asyncio's own loop
    uvloop = None


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")  # no "PyTorch was not found" banner
    try:
        config = parse_args(argv)
        context = _tls(config)
        sock, url = _listen(config)
        emulator = Emulator(config, load_tokenizer(config.tokenizer))
    except ConfigError as exc:
        print(f"emulator: error: {exc}", file=sys.stderr)
        return 2
    if context is not None:
        url = "https" + url.removeprefix("http")
    loop_factory = uvloop.new_event_loop if uvloop is not None else None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_until_signalled(emulator, sock, url, context))
    return 0


def _tls(config: EmulatorConfig) -> ssl.SSLContext | None:
    """A server context for ``--tls-cert``/``--tls-key``, or None for plain HTTP."""
    if not config.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--tls-cert {config.tls_cert} / --tls-key {config.tls_key}: {exc}") from None
    return context


def _listen(config: EmulatorConfig) -> tuple[socket.socket, str]:
    try:
        return listen(config.host, config.port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None


async def _serve_until_signalled(
    emulator: Emulator, sock: socket.socket, url: str, context: ssl.SSLContext | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(emulator, sock, url, stop, ssl_context=context)


if __name__ == "__main__":
    sys.exit(main())
