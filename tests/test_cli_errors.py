"""Bad input: one line naming the value and what is accepted, exit code 2, never a traceback.

The same table is in the README ("Bad input"); keep them together.
"""

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from emulator.launch import start_emulator

from locust_run import REPO

BATCH_WITH_BAD_LINE = (
    '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
    '"body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}}\n'
    '{"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}\n'
)

# (arguments, what the one line must say); {url} is a live emulator, {tmp} a temp folder.
CASES = [
    (["--endpoint", "bogus"],
     "argument --endpoint: invalid choice: 'bogus' (choose from 'chat', 'completions')"),
    (["NoSuchUser"],
     "unknown user class 'NoSuchUser'; accepted: Base64ImageChatUser, BatchUser, ImageUrlChatUser"),
    (["--max-tokens", "0"], "error: --max-tokens 0: expected a value > 0"),
    (["--input-len", "-5"], "error: --input-len -5: expected a value > 0"),
    (["--max-tokens", "many"], "argument --max-tokens: invalid int value: 'many'"),
    (["--range-ratio", "1.5"], "error: --range-ratio 1.5: expected a ratio in [0, 1)"),
    (["--images-per-request", "3-1"], "error: --images-per-request '3-1': MIN 3 is greater than MAX 1"),
    (["--image-size", "10x99999"], "error: bad image size '10x99999'; accepted: WxH (640x480)"),
    (["--host", "ftp://example"], "error: --host 'ftp://example': expected http://HOST[:PORT] or https://HOST"),
    (["--host", "http://127.0.0.1:9"], "error: --host http://127.0.0.1:9: unreachable"),
    (["--api-key-file", "{tmp}/no-such-key"], "error: --api-key-file '{tmp}/no-such-key': no such file"),
    (["--config", "{tmp}/bad.conf"], "error: unrecognized arguments: --no-such-key=1"),
    (["--host", "{url}", "--tokenizer", "{tmp}/no-tokenizer"],
     "error: --tokenizer {tmp}/no-tokenizer: no such folder; pass a local folder with tokenizer.json"),
    (["--host", "{url}", "--dataset", "{tmp}/batch.jsonl"], "error: {tmp}/batch.jsonl:2: "),
    (["--host", "{url}", "--dataset", "{tmp}/missing.jsonl"], "{tmp}/missing.jsonl"),
    (["--host", "{url}", "--endpoint", "completions", "Base64ImageChatUser"],
     "error: --endpoint completions: Base64ImageChatUser send images, which only /v1/chat/completions takes"),
    (["--host", "{url}", "--text-only", "ImageUrlChatUser"],
     "error: --text-only: the target takes no images, but ImageUrlChatUser send them"),
    (["--host", "{url}", "--image-url-file", "{tmp}/urls.txt", "ImageUrlChatUser"], "{tmp}/urls.txt:2: "),
    (["--host", "{url}", "--image-files", "{tmp}/missing.png", "Base64ImageChatUser"], "{tmp}/missing.png"),
    (["--host", "{url}", "--conversations", "{tmp}/sharegpt.json", "MultiTurnChatUser"],
     "error: {tmp}/sharegpt.json:3: "),
    (["--host", "{url}", "--image-files", "{tmp}/bad.conf", "Base64ImageChatUser"], "{tmp}/bad.conf"),
    (["--host", "{url}", "--image-files", "{tmp}/big.png", "--image-max-mb", "0.01", "Base64ImageChatUser"],
     "{tmp}/big.png"),
]


def run(args: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfile.py"), "--headless", "-t", "2s", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "bad.conf").write_text("users = 1\nno-such-key = 1\n")
    (tmp / "batch.jsonl").write_text(BATCH_WITH_BAD_LINE)
    (tmp / "urls.txt").write_text("http://127.0.0.1:1/a.png\nnot a url\n")
    good = '{"conversations": [{"from": "human", "value": "hi"}]}'
    (tmp / "sharegpt.json").write_text(f'[\n {good},\n {{"bad": 1}}\n]\n')
    shutil.copy(REPO / "images" / "samples" / "sample-224x224.png", tmp / "big.png")
    with start_emulator() as emulator:
        fill = lambda s: s.replace("{url}", emulator.url).replace("{tmp}", str(tmp))  # noqa: E731
        cases = [([fill(a) for a in args], fill(expected)) for args, expected in CASES]
        with ThreadPoolExecutor(2) as pool:
            procs = list(pool.map(run, [args for args, _ in cases]))
    return list(zip(cases, procs, strict=True))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_gets_one_line_and_exit_code_2(outcomes, index):
    (args, expected), proc = outcomes[index]
    lines = proc.stderr.splitlines()
    errors = [line for line in lines if "error" in line.lower() and not line.startswith("[")]
    assert proc.returncode == 2, (args, proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(errors) == 1, proc.stderr
    assert expected in errors[0], errors[0]
