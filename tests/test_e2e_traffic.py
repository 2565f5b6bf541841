"""Whole runs of the real ``locust`` command against the emulator, reconciled with its log."""

from collections import Counter

import pytest

from emulator.launch import start_emulator

from locust_run import read_jsonl, run_locust

pytestmark = pytest.mark.load


def emulator_class(row: dict) -> str:
    if row["images_base64"]:
        return "base64"
    return "image-url" if row["images_url"] else "text"


def test_mixed_traffic_counts_per_class_match_the_emulator_and_images_cost_ttft(tmp_path):
    log, requests = tmp_path / "emulator.jsonl", tmp_path / "requests.jsonl"
    with start_emulator("--ttft-ms", "40", "--itl-ms", "5", "--prefill-ms-per-mpixel", "150",
                        "--log", str(log)) as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "9", "-r", "9", "-t", "8s", "--max-tokens", "16",
            "--input-len", "64", "--images-per-request", "1-3", "--image-size", "640x480",
            "--request-log", str(requests),
            "TextChatUser", "ImageUrlChatUser", "Base64ImageChatUser",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = read_jsonl(log)
    sent = read_jsonl(requests)
    assert summary["failed"] == 0
    per_class = {name: s["completed"] + s["failed"] for name, s in summary["per_class"].items()}
    assert per_class == dict(Counter(emulator_class(r) for r in served))
    assert set(per_class) == {"text", "image-url", "base64"}
    # every image the client sent was decoded (base64) or fetched (URL) by the emulator
    for kind, field in (("base64", "images_base64"), ("image-url", "images_url")):
        assert sum(r["images"] for r in sent if r["traffic_class"] == kind) == sum(r[field] for r in served)
    assert all(r["image_tokens"] > 0 for r in served if emulator_class(r) != "text")
    # the pixels and bytes of the images sent, per class: every image here is 640x480
    for kind in ("base64", "image-url"):
        s = summary["per_class"][kind]
        assert s["total_image_pixels"] == 640 * 480 * s["total_images"] > 0
        assert s["total_image_bytes"] > 0 and s["image_pixels_per_s"] > 0
    # the emulator's model: TTFT grows 150 ms per megapixel (0.3 MP per 640x480 image)
    ttft = {name: s["mean_ttft_ms"] for name, s in summary["per_class"].items()}
    assert ttft["base64"] > ttft["text"] + 40 and ttft["image-url"] > ttft["text"] + 40, ttft
    assert "base64" in proc.stdout and "image-url" in proc.stdout


def test_prompt_tokens_the_server_counts_equal_the_factory_count_plus_template(tmp_path):
    requests = tmp_path / "requests.jsonl"
    with start_emulator("--ttft-ms", "5", "--itl-ms", "1") as emulator:
        proc, summary = run_locust(
            emulator.url, tmp_path, "-u", "4", "-r", "4", "-t", "5s", "--max-tokens", "8",
            "--input-len", "300", "--range-ratio", "0.9", "--prefix-len", "20",
            "--request-log", str(requests), "TextChatUser",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = read_jsonl(requests)
    assert len(lines) == summary["completed"] + summary["failed"] > 20
    lengths = set()
    for line in lines:
        usage = line["response"]["body"]["usage"]
        assert usage["prompt_tokens"] == line["payload_tokens"], line
        assert line["template_overhead"] > 0 and line["payload_tokens"] > line["template_overhead"]
        lengths.add(line["payload_tokens"])
    assert len(lengths) > 5  # lengths really varied
