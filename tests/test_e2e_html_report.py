"""Locust's --html report with the LLM section, rendered by headless chromium.

One headless run of three traffic classes writes the report; chromium opens the file with every
request other than the file itself refused (the report must work offline), Locust's own content
renders, and the LLM section follows it with a row per class, its charts drawn, and the images
part for the image classes. Screenshots land in tests/artifacts/report*.png (the README's
docs/report.png is made by scripts/report_screenshot.py).
"""

from pathlib import Path

import pytest
from browser import chromium_page

from emulator.launch import start_emulator

from locust_run import run_locust

pytestmark = pytest.mark.load
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("report")
    with start_emulator("--ttft-ms", "60", "--itl-ms", "5", "--fault", "http500=0.05") as emulator:
        proc, summary = run_locust(
            emulator.url, tmp, "-u", "6", "-r", "6", "-t", "6s", "--max-tokens", "32",
            "--html", str(tmp / "report.html"), "--slo", "p95_ttft_ms=500", "--slo", "error_rate=0.5",
            "TextChatUser", "Base64ImageChatUser", "ImageUrlChatUser", "--goodput", "ttft:80",
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "report.html", summary


def test_the_report_opens_offline_with_locusts_content_then_the_llm_section(report):
    path, summary = report
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    with chromium_page(1280, 1000) as page:
        def local_only(route) -> None:
            if route.request.url.startswith(("file:", "data:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", local_only)
        page.goto(path.as_uri())
        page.get_by_text("Request Statistics").first.wait_for()
        section = page.locator("#llm-report")
        assert section.count() == 1
        assert page.evaluate("document.querySelector('#root').compareDocumentPosition("
                             "document.querySelector('#llm-report')) & Node.DOCUMENT_POSITION_FOLLOWING")
        rows = section.locator("table").first.locator("tbody tr")
        assert rows.all_inner_texts()[-1].startswith("Aggregated")
        classes = [r.split("\t")[0] for r in rows.all_inner_texts()]
        assert classes == ["base64", "image-url", "text", "Aggregated"]
        charts = section.locator("svg.llm-chart")
        assert charts.count() == 4 + 5 + 2  # percentiles, over time, images
        drawn = page.evaluate("[...document.querySelectorAll('svg.llm-chart')]"
                              ".map(s => s.querySelectorAll('polyline').length)")
        assert all(n > 0 for n in drawn), drawn
        assert "breached" not in section.locator("table").nth(1).inner_text()
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        section.screenshot(path=str(ARTIFACTS / "report-llm.png"))
        charts.first.hover()
        assert page.locator(".llm-tip").is_visible()
    assert outside == []
    assert summary["per_class"]["base64"]["total_images"] > 0


def test_the_llm_section_states_the_runs_figures(report):
    path, summary = report
    html = path.read_text()
    assert html.count('id="llm-report"') == 1
    assert f"{summary['completed'] + summary['failed']:,}" in html
    assert "Goodput bounds:</b> ttft &le; 80 ms" in html
    assert "HTTP 500: emulated internal server error" in html
