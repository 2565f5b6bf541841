"""The static image server: serves a folder's files on loopback, plain and under gevent."""

import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from images.errors import ImageError
from images.pool import ImagePool
from images.server import SAMPLES_DIR, ImageServer, is_loopback, main
from images.synth import SynthSpec

ROOT = Path(__file__).resolve().parents[1]
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> tuple[bytes, str]:
    with NO_PROXY.open(url, timeout=5) as response:
        return response.read(), response.headers["Content-Type"]


@pytest.fixture
def folder(tmp_path):
    ImagePool.synthesize(2, SynthSpec.parse("64x48", "png")).write_to(tmp_path)
    (tmp_path / "with space.txt").write_text("hello")
    (tmp_path / ".hidden").write_text("secret")
    return tmp_path


def test_server_serves_every_file_of_the_folder_on_loopback(folder):
    with ImageServer(folder) as server:
        urls = server.urls
        names = [u.rsplit("/", 1)[1] for u in urls]
        assert names == ["image-00000.png", "image-00001.png", "with%20space.txt"]
        assert all(u.startswith(f"http://127.0.0.1:{server.port}/") for u in urls)
        for url in urls[:2]:
            data, kind = fetch(url)
            assert data == (folder / url.rsplit("/", 1)[1]).read_bytes()
            assert kind == "image/png"
        assert fetch(urls[2])[0] == b"hello"


def test_server_stops_and_frees_its_port(folder):
    server = ImageServer(folder).start()
    port = server.port
    server.stop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_default_folder_is_the_samples(tmp_path):
    with ImageServer() as server:
        names = [u.rsplit("/", 1)[1] for u in server.urls]
        assert names == sorted(p.name for p in SAMPLES_DIR.iterdir() if not p.name.startswith("."))
        assert fetch(server.urls[0])[0] == (SAMPLES_DIR / names[0]).read_bytes()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_server_on_ipv6_loopback_brackets_the_host(folder):
    try:
        server = ImageServer(folder, host="::1").start()
    except ImageError as error:
        pytest.skip(f"::1 not usable here: {error}")
    with server:
        assert server.urls[0].startswith(f"http://[::1]:{server.port}/")
        assert fetch(server.urls[0])[0] == (folder / "image-00000.png").read_bytes()


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com", "::"])
def test_non_loopback_host_is_refused_unless_allowed(folder, host):
    with pytest.raises(ImageError, match=f"host '{host}' is not loopback; accepted: 127.0.0.1"):
        ImageServer(folder, host=host)
    ImageServer(folder, host=host, allow_non_loopback=True)  # constructing does not bind


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True),
                                            ("[::1]", True), ("LOCALHOST", True), ("192.168.0.1", False)])
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_urls_need_a_started_server(folder):
    with pytest.raises(ImageError, match="not started"):
        _ = ImageServer(folder).urls


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(ImageError, match=r"image folder '.*absent' does not exist"):
        ImageServer(tmp_path / "absent")


def test_cli_bad_host_is_one_line_and_exit_code_2(capsys):
    assert main(["--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'0.0.0.0' is not loopback" in err


def test_cli_serves_a_synthetic_pool_and_writes_the_urls(tmp_path, capsys):
    urls_file = tmp_path / "urls.txt"
    assert main(["--synth", "2", "--size", "32x32", "--urls-out", str(urls_file), "--seconds", "0"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == urls_file.read_text().split()
    assert [u.rsplit("/", 1)[1] for u in printed] == ["image-00000.jpg", "image-00001.jpg"]


GEVENT_SCRIPT = """
    from gevent import monkey
    monkey.patch_all()
    import sys, urllib.request
    import gevent
    sys.path.insert(0, {root!r})
    from images.server import ImageServer

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
    with ImageServer({folder!r}) as server:
        jobs = [gevent.spawn(lambda u=u: opener.open(u, timeout=5).read()) for u in server.urls * 3]
        gevent.joinall(jobs, timeout=10, raise_error=True)
        sizes = sorted({{len(job.value) for job in jobs}})
    print(monkey.is_module_patched("threading"), monkey.is_module_patched("socket"), len(jobs), sizes)
"""


def test_server_works_under_gevent_monkey_patching(folder):
    script = textwrap.dedent(GEVENT_SCRIPT.format(root=str(ROOT), folder=str(folder)))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    expected = sorted({p.stat().st_size for p in folder.iterdir() if not p.name.startswith(".")})
    assert done.stdout.strip() == f"True True 9 {expected}"
