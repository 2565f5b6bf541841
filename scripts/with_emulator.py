"""Run a command against a fresh emulator on loopback: ``with_emulator.py [EMULATOR ARGS] -- CMD ...``.

``{url}`` in the command becomes the emulator's base URL. The emulator stops when the
command ends; the exit code is the command's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.launch import EmulatorStartError, start_emulator  # noqa: E402


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: with_emulator.py [EMULATOR ARGS] -- COMMAND ... ({url} = the emulator's URL)",
              file=sys.stderr)
        return 2
    cut = argv.index("--")
    emulator_args, command = argv[:cut], argv[cut + 1 :]
    try:
        with start_emulator(*emulator_args) as emulator:
            print(f"emulator at {emulator.url}", flush=True)
            return subprocess.call([part.replace("{url}", emulator.url) for part in command])
    except EmulatorStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
