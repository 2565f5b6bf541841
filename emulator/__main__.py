"""`python -m emulator`: start the OpenAI-compatible emulator (see --help).

``--tls-cert FILE --tls-key FILE`` serve HTTPS instead (PEM files; a test CA's, for the client's
TLS tests); the announced URL is then ``https://``.
"""

from __future__ import annotations

import argparse
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
        context, rest = _tls(sys.argv[1:] if argv is None else list(argv))
        config = parse_args(rest)
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


def _tls(argv: list[str]) -> tuple[ssl.SSLContext | None, list[str]]:
    """``--tls-cert``/``--tls-key`` taken out of ``argv``: a server context, or None for plain HTTP."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    known, rest = parser.parse_known_args(argv)
    if not known.tls_cert and not known.tls_key:
        return None, rest
    if not (known.tls_cert and known.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(known.tls_cert, known.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--tls-cert {known.tls_cert} / --tls-key {known.tls_key}: {exc}") from None
    return context, rest


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
