"""The LLM options in argparse: ``--help`` groups, conf-file keys and the web UI's start form.

The rows come from :data:`conf.options.OPTIONS`. Locust records which arguments its start
form shows on the action (``LocustArgumentParser.add_argument`` sets ``include_in_web_ui``,
``is_secret``, ``is_required`` and ``is_multiple``), but an argparse group's ``add_argument``
is argparse's own and sets none of them, so :func:`add_options` adds each option to its
``--help`` group and then marks the action as Locust's ``add_argument`` would.
"""

from __future__ import annotations

import argparse

from locust import LoadTestShape, User

from conf.options import GROUPS, OPTIONS, Option

DESTS: set[str] = {option.dest for option in OPTIONS}
"""The option names (argparse ``dest``) this module adds."""


def add_options(parser) -> None:
    """Add every LLM option to Locust's ``parser``, each under its ``--help`` group."""
    for action in parser._actions:  # Locust's positional user classes: a one-line error, exit 2
        if action.dest == "user_classes":
            action.type = known_user_class
    groups = {key: parser.add_argument_group(title, about) for key, (title, about) in GROUPS.items()}
    for option in OPTIONS:
        action = groups[option.group].add_argument(option.flag, **argparse_kwargs(option))
        action.include_in_web_ui = option.web_ui
        action.is_secret = option.secret
        action.is_required = False
        action.is_multiple = False


def argparse_kwargs(option: Option) -> dict:
    """``add_argument`` keywords for one row: its default said in the help (argparse does not)."""
    shown = option.shown_default()
    help_text = f"{option.help} [default: {shown}]" if shown else option.help
    kwargs: dict = {"default": option.default, "help": help_text}
    if option.type is bool:
        kwargs["action"] = "store_true"
    elif option.repeat:
        kwargs["action"] = "append" if option.repeat == "append" else "extend"
        if option.repeat == "+":
            kwargs["nargs"] = "+"
    elif option.type is not str:
        kwargs["type"] = option.type
    if option.choices:
        kwargs["choices"] = list(option.choices)
    return kwargs


def known_user_class(name: str) -> str:
    """Accept the name of a concrete User or LoadTestShape class defined by the locustfile."""
    known = sorted(_concrete_names(User) | _concrete_names(LoadTestShape))
    if name not in known:
        raise argparse.ArgumentTypeError(f"unknown user class {name!r}; accepted: {', '.join(known)}")
    return name


def _concrete_names(base: type) -> set[str]:
    names, stack = set(), list(base.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not cls.__dict__.get("abstract", False) and cls.__module__.split(".")[0] != "locust":
            names.add(cls.__name__)
    return names
