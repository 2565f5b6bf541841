"""Request features from the command line and conf files, through Locust's own parser."""

import argparse
import json
import os
import subprocess
import sys
import textwrap

from conf.settings import from_options

from locust_run import REPO

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
PARSE = textwrap.dedent("""
    import json, sys
    import locustfile  # noqa: F401 - registers the LLM options
    from locust.argument_parser import get_parser
    print(json.dumps(vars(get_parser().parse_args(sys.argv[1:])), default=str))
""")


def parsed(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PARSE, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_conf_file_sets_extra_body_fields_stop_sequences_and_n(tmp_path):
    conf = tmp_path / "run.conf"
    conf.write_text('extra-body = {"enable_thinking": false, "thinking_budget": 256}\n'
                    "stop = [END, STOP]\nn = 2\nsampling-seed = 9\nresponse-format = json_object\n")
    settings = from_options(argparse.Namespace(**parsed("--config", str(conf))), environ={})
    assert settings.features.fields == {
        "response_format": {"type": "json_object"}, "n": 2, "stop": ["END", "STOP"], "seed": 9,
        "enable_thinking": False, "thinking_budget": 256,
    }


def test_stop_repeats_on_the_command_line():
    options = parsed("--stop", "a", "--stop", "b c", "--tools", '[{"function": {"name": "f"}}]',
                     "--tool-choice", "f")
    fields = from_options(argparse.Namespace(**options), environ={}).features.fields
    assert fields["stop"] == ["a", "b c"]
    assert fields["tools"] == [{"type": "function", "function": {"name": "f"}}]


def test_bad_extra_body_json_is_one_line_and_exit_code_2():
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfile.py"), "--headless", "-t", "1s",
           "--extra-body", "{not json"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=ENV)
    lines = proc.stderr.splitlines()
    errors = [line for line in lines if "error" in line.lower() and not line.startswith("[")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(errors) == 1, proc.stderr
    assert "--extra-body: not valid JSON" in errors[0]
