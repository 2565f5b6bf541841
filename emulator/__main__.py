"""`python -m emulator`: start the OpenAI-compatible emulator (see --help)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
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
        sock, url = _listen(config)
        emulator = Emulator(config, load_tokenizer(config.tokenizer))
    except ConfigError as exc:
        print(f"emulator: error: {exc}", file=sys.stderr)
        return 2
    loop_factory = uvloop.new_event_loop if uvloop is not None else None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_until_signalled(emulator, sock, url))
    return 0


def _listen(config: EmulatorConfig) -> tuple[socket.socket, str]:
    try:
        return listen(config.host, config.port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None


async def _serve_until_signalled(emulator: Emulator, sock: socket.socket, url: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(emulator, sock, url, stop)


if __name__ == "__main__":
    sys.exit(main())
