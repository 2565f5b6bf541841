"""Let ``locust -f FILE --help`` list the options FILE adds.

Locust answers ``--help`` before it imports the locustfile: ``parse_locustfile_option``
sees ``-h`` and prints the help of a parser built with only the listeners registered so
far, then exits. A locustfile's ``init_command_line_parser`` listener (ours adds the LLM
options) is registered by importing the locustfile, so it never runs for ``--help``, and no
code of a locustfile can change that.

Python runs the ``import`` lines of ``.pth`` files in site-packages at every start, before
the program. :func:`install` copies this module there with a ``.pth`` line that calls
:func:`activate`, which, only when the process is ``locust`` asked for ``-h``/``--help``,
imports the ``-f`` locustfiles first (as Locust would for a run, with its own functions).
Locust's help parser, built after that, fires their listeners and lists their options. Any
other process only pays one look at ``sys.orig_argv``.

Self-contained: the copy in site-packages imports nothing of the project's, and at start
only ``os`` and ``sys`` (already loaded), so it adds well under a millisecond.

    python -m plugin.help_hook install     # make install runs this
"""

from __future__ import annotations

import os
import sys

MODULE = "llm_locust_help"
"""The module's name in site-packages."""
PTH_LINE = f"import {MODULE}; {MODULE}.activate()\n"
"""The ``.pth`` line: ``site`` executes lines that start with ``import``."""
_TAKES_VALUE = {"-W", "-X"}
"""Python's own options whose value is the next argument."""


def locust_args(argv: list[str]) -> list[str] | None:
    """Locust's arguments when ``argv`` (a ``sys.orig_argv``) runs Locust, else None.

    Locust runs as its console script (``.../bin/locust ARGS``) or as ``python -m locust ARGS``.
    """
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            return argv[i + 2:] if argv[i + 1:i + 2] == ["locust"] else None
        if arg.startswith(("-m", "-c")) or arg == "-":
            return argv[i + 1:] if arg == "-mlocust" else None
        if arg.startswith("-"):
            i += 2 if arg in _TAKES_VALUE else 1
            continue
        return argv[i + 1:] if os.path.basename(arg).removesuffix(".exe") == "locust" else None
    return None


def activate() -> None:
    """Before Locust answers ``--help``, import the locustfiles named by ``-f`` (or the default)."""
    args = locust_args(list(getattr(sys, "orig_argv", ())))
    if args is None or not {"-h", "--help"} & set(args):
        return
    try:
        load_locustfiles(args)
    except (Exception, SystemExit) as exc:  # the help still prints, without the locustfile's options
        print(f"note: --help lists Locust's own options only ({type(exc).__name__}: {exc})", file=sys.stderr)


def load_locustfiles(args: list[str]) -> None:
    """Import the local locustfiles ``args`` name, as Locust does before a run.

    Only files and folders on this machine: a URL is not downloaded and ``-f -`` (a worker's
    file from its master) is skipped, for a help text.
    """
    from locust.argument_parser import get_empty_argument_parser, parse_locustfile_paths
    from locust.util.load_locustfile import load_locustfile

    options, _ = get_empty_argument_parser(add_help=False).parse_known_args(args)
    names = [name.strip() for name in options.locustfile.split(",")]
    local = [name for name in names if os.path.isdir(name) or (name.endswith(".py") and os.path.isfile(name))]
    for path in parse_locustfile_paths(local):
        load_locustfile(path)


def install(site_dir: str | None = None) -> list[str]:
    """Put this module and its ``.pth`` line into ``site_dir`` (this interpreter's site-packages).

    Returns the files written; an up-to-date install writes nothing.
    """
    import sysconfig
    from pathlib import Path

    site = Path(site_dir or sysconfig.get_path("purelib"))
    wanted = {site / f"{MODULE}.py": Path(__file__).read_text(), site / f"{MODULE}.pth": PTH_LINE}
    written = []
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(str(path))
    return written


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python -m plugin.help_hook install")
    for written in install():
        print(f"wrote {written}")
