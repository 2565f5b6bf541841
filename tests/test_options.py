"""The option table (conf/options.py) is what ``--help``, argparse, conf files, the web form and
the settings use: every flag, type, default and group, from one place.

Locust's parser is built in subprocesses (as ``locust -f locustfile.py`` builds it), so this
process never imports Locust and its gevent patching.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from conf.options import BY_DEST, GROUPS, OPTIONS
from conf.settings import Settings, from_options
from plugin import help_hook
from transport.http import Target

from locust_run import REPO

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
WEB_UI = [option.dest for option in OPTIONS if option.web_ui]

# Locust's parser as `locust -f locustfile.py` builds it, dumped as JSON.
PROBE = textwrap.dedent("""
    import json
    import flask
    import locustfile  # noqa: F401 - registers the LLM options, as `locust -f locustfile.py` does
    from locust.argument_parser import get_parser, ui_extra_args_dict
    from plugin.webui import keep_form_order

    parser = get_parser()
    titles = {id(a): g.title for g in parser._action_groups for a in g._group_actions}
    actions = {
        a.dest: {"flags": a.option_strings, "type": getattr(a.type, "__name__", None), "default": a.default,
                 "choices": a.choices, "on_off": a.nargs == 0 and a.const is True, "group": titles.get(id(a))}
        for a in parser._actions
    }
    app = flask.Flask("probe")
    keep_form_order(app)
    with app.app_context():
        page_json = flask.render_template_string("{{ d|tojson }}", d={"b": 1, "a": 2})
    print(json.dumps({
        "actions": actions,
        "form": ui_extra_args_dict([]),
        "web_ui": list(parser.args_included_in_web_ui),
        "conf": vars(parser.parse_args(["--config", "conf/run.conf"])),
        "page_json": page_json,
    }))
""")


def locust(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfile.py"), *args]
    return subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def probe() -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def help_text() -> str:
    proc = locust("--help")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--max-tokens" in proc.stdout, (
        "the --help hook is not installed in this venv: make install (python -m plugin.help_hook install)")
    return proc.stdout


def help_sections(text: str) -> dict[str, dict[str, str]]:
    """``--help`` text -> group heading -> flag -> its help, whitespace collapsed."""
    sections: dict[str, dict[str, str]] = {}
    for block in re.split(r"\n(?=\S[^\n]*:\n)", text):
        heading, _, body = block.partition(":\n")
        entries = re.split(r"\n(?=  -)", "\n" + body)
        sections[heading.strip()] = {
            entry.split()[0].rstrip(","): " ".join(entry.split()) for entry in entries if entry.strip()
        }
    return sections


def test_help_lists_every_option_under_its_group_with_its_default(help_text):
    sections = help_sections(help_text)
    for option in OPTIONS:
        heading = GROUPS[option.group][0]
        assert heading in sections, f"no {heading!r} group in --help"
        entry = sections[heading].get(option.flag)
        assert entry, f"{option.flag} not under {heading!r}"
        if option.type is not bool:
            assert f"[default: {option.shown_default()}]" in entry, entry


def test_help_shows_the_plain_defaults(help_text):
    sections = help_sections(help_text)
    assert "[default: 256]" in sections["LLM lengths"]["--max-tokens"]
    assert "[default: 640x480]" in sections["LLM images"]["--image-size"]
    assert "[default: 30]" in sections["LLM timeouts and retries"]["--drain-timeout"]
    assert "[default: a fresh one each run" in sections["LLM lengths"]["--seed"]


def test_help_groups_come_in_table_order(help_text):
    positions = [help_text.index(f"\n{title}:\n") for title, _ in GROUPS.values()]
    assert positions == sorted(positions)


def test_argparse_has_every_row_with_its_flag_type_default_choices_and_group(probe):
    actions = probe["actions"]
    for option in OPTIONS:
        action = actions[option.dest]
        assert action["flags"] == [option.flag]
        assert action["default"] == option.default, option.flag
        assert action["group"] == GROUPS[option.group][0], option.flag
        assert action["choices"] == (list(option.choices) if option.choices else None), option.flag
        if option.type is bool:
            assert action["on_off"] and option.default is False, option.flag
        else:
            assert action["type"] == (None if option.type is str else option.type.__name__), option.flag


def test_the_web_form_shows_exactly_the_web_ui_rows_in_table_order(probe):
    assert list(probe["form"]) == WEB_UI
    assert [dest for dest in probe["web_ui"] if dest in BY_DEST] == WEB_UI
    for dest, field in probe["form"].items():
        option = BY_DEST[dest]
        assert field["is_secret"] == option.secret
        assert field["choices"] == (list(option.choices) if option.choices else None)
        assert field["default_value"] == option.default


def test_keep_form_order_writes_the_page_json_unsorted(probe):
    assert probe["page_json"] == '{"b": 1, "a": 2}'


def test_conf_file_keys_set_our_options(probe):
    conf = probe["conf"]
    assert (conf["max_tokens"], conf["input_len"], conf["range_ratio"]) == (128, 256, 0.25)
    assert conf["summary_json"] == "out/summary.json"
    settings = from_options(argparse.Namespace(**conf), environ={})
    assert (settings.max_tokens, settings.input_len, settings.range_ratio) == (128, 256, 0.25)
    assert settings.turns == BY_DEST["turns"].default  # not in the file: the table's default


def test_missing_options_take_the_table_defaults(probe):
    parsed = argparse.Namespace(**{dest: a["default"] for dest, a in probe["actions"].items()})
    assert from_options(argparse.Namespace(), environ={}) == from_options(parsed, environ={})


def test_settings_fields_default_as_the_table(probe):
    built = from_options(argparse.Namespace(), environ={})
    bare = Settings(target=Target.parse("http://127.0.0.1:8000"), model="", endpoint="/v1/chat/completions")
    assert bare == built


def test_seed_defaults_to_none_so_each_run_draws_one():
    assert BY_DEST["seed"].default is None


def test_every_group_has_rows_and_every_row_a_group():
    assert {option.group for option in OPTIONS} == set(GROUPS)
    assert len(BY_DEST) == len(OPTIONS)


@pytest.mark.parametrize(("argv", "expected"), [
    (["/v/bin/python3", "/v/bin/locust", "-f", "x.py", "--help"], ["-f", "x.py", "--help"]),
    (["python", "-m", "locust", "-h"], ["-h"]),
    (["python", "-X", "dev", "-mlocust", "-h"], ["-h"]),
    (["python", "-m", "pytest", "--help"], None),
    (["python", "-c", "pass", "--help"], None),
    (["python", "/usr/bin/pytest", "--help"], None),
    (["python"], None),
])
def test_help_hook_knows_a_locust_process(argv, expected):
    assert help_hook.locust_args(argv) == expected


def test_help_hook_install_writes_once(tmp_path):
    written = help_hook.install(str(tmp_path))
    assert sorted(os.path.basename(p) for p in written) == ["llm_locust_help.pth", "llm_locust_help.py"]
    assert (tmp_path / "llm_locust_help.pth").read_text() == help_hook.PTH_LINE
    assert help_hook.install(str(tmp_path)) == []


def test_other_programs_asked_for_help_do_not_import_locust():
    code = "import sys; print('locust' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code, "--help"], env=ENV, capture_output=True, text=True)
    assert proc.stdout.strip() == "False"
