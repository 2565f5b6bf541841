"""conf/ is the bottom of the imports: settings pull in no transport, payload or image code."""

import subprocess
import sys

import pytest

from conf.images import ImageOptions, check, check_reachable

from locust_run import REPO

HEAVY = ("transport", "payloads", "images", "PIL", "numpy", "gevent", "geventhttpclient", "httptools")


def test_importing_settings_loads_no_transport_payload_or_image_module():
    code = ("import sys, conf.settings; "
            f"print(sorted({{m for m in sys.modules if m.split('.')[0] in {HEAVY!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_image_code_registers_its_spec_check():
    import payloads.image_supply  # noqa: F401 - registers the grammar of sizes and counts

    with pytest.raises(ValueError, match="--images-per-request '3-1'"):
        check(ImageOptions(per_request="3-1"))


def test_a_remote_target_needs_an_address_it_can_fetch_from():
    with pytest.raises(ValueError) as info:
        check_reachable(ImageOptions(), "gpu-box.example")
    message = str(info.value)
    assert "--image-server-host 127.0.0.1" in message and "--image-base-url" in message
    check_reachable(ImageOptions(), "127.0.0.1")
    check_reachable(ImageOptions(server_host="0.0.0.0", base_url="http://10.0.0.5/"), "gpu-box.example")
    check_reachable(ImageOptions(url_file="urls.txt"), "gpu-box.example")


def test_the_base_url_is_where_urls_point_with_the_servers_port_unless_it_names_one():
    assert ImageOptions().served_url("127.0.0.1", 8123) == "http://127.0.0.1:8123/"
    assert ImageOptions(base_url="http://10.0.0.5").served_url("0.0.0.0", 8123) == "http://10.0.0.5:8123/"
    assert ImageOptions(base_url="http://h:80/img/").served_url("0.0.0.0", 8123) == "http://h:80/img/"
    with pytest.raises(ValueError, match="--image-base-url 'ftp://x'"):
        check(ImageOptions(base_url="ftp://x"))


def test_an_image_server_bound_beyond_loopback_hands_out_urls_at_the_base_url():
    import urllib.request

    from payloads.image_supply import ImageSupply

    supply = ImageSupply(ImageOptions(size="64x64", pool_size=2, server_host="0.0.0.0",
                                      base_url="http://127.0.0.1/"))
    try:
        url = supply.urls()[0]
        assert url.startswith("http://127.0.0.1:") and supply._server.host == "0.0.0.0"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        assert opener.open(url, timeout=5).read()[:3] == b"\xff\xd8\xff"  # a JPEG, fetched at the base URL
    finally:
        supply.close()
