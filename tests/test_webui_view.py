"""The LLM tab's server side, through Locust's own web UI object and Flask's test client: the page
is the build with the LLM tab (unless ``--build-path`` names another), ``llm/live`` gives the run's
summary and its rows, and the Download Data links serve the summary JSON and the per-request CSV."""

from __future__ import annotations

import csv
import io
import json
import sys
from array import array
from collections import deque

import pytest
from locust.argument_parser import get_parser
from locust.env import Environment

from metrics.collector import LlmMetrics
from metrics.report import summarize
from plugin import webui
from reports.csv import REQUEST_COLUMNS, request_row
from streaming.record import RequestRecord
from users.images import Base64ImageChatUser
from users.text import TextChatUser

T0 = 1_800_000_000.0


def parsed_options(*args: str):
    """Locust's options (and ours) as ``locust -f locustfile.py ARGS`` parses them, no conf file read."""
    return get_parser(default_config_files=[]).parse_args(["-f", "locustfile.py", *args])


def record(cls: str = "text", second: float = 0.0, ttft: float = 0.05, gaps=(0.01,) * 9) -> RequestRecord:
    times, t = array("d"), 100.0 + ttft
    for gap in (0.0, *gaps):
        t += gap
        times.append(t)
    rec = RequestRecord(cls, t_start=100.0, wall_start=T0 + second, t_first=times[0], t_end=times[-1],
                        token_times=times, status=200)
    rec.output_tokens = len(times)
    return rec


class FakeLifecycle:
    """What the web UI reads of :class:`plugin.lifecycle.Lifecycle`."""

    def __init__(self, environment: Environment, is_master: bool = False) -> None:
        self.environment = environment
        self.metrics = LlmMetrics()
        self.summary: dict | None = None
        self.runs = 1
        self.is_master = is_master
        self.recent_rows: deque[list] = deque()


def make_ui(*args: str, user_classes=(TextChatUser, Base64ImageChatUser), is_master: bool = False):
    options = parsed_options(*args)
    environment = Environment(user_classes=list(user_classes), parsed_options=options, host="http://127.0.0.1:9")
    environment.create_local_runner()
    web_ui = environment.create_web_ui("127.0.0.1", 0, web_base_path=options.web_base_path,
                                       build_path=options.build_path or None, delayed_start=True)
    lifecycle = FakeLifecycle(environment, is_master)
    webui.install(web_ui, lifecycle, set())
    return web_ui, lifecycle


@pytest.fixture(autouse=True)
def locust_argv(monkeypatch):
    """Locust's page reads the custom parameters' values from ``sys.argv`` (here: pytest's)."""
    monkeypatch.setattr(sys, "argv", ["locust", "-f", "locustfile.py"])


@pytest.fixture
def ui():
    web_ui, lifecycle = make_ui()
    return web_ui.app.test_client(), lifecycle


def test_the_page_is_the_build_with_the_llm_tab(ui):
    client, _ = ui
    page = client.get("/").get_data(as_text=True)
    script = next(path.name for path in (webui.BUILD_PATH / "assets").glob("index-*.js"))
    assert f"./assets/{script}" in page and "window.templateArgs = {" in page
    assert client.get(f"/assets/{script}").status_code == 200
    assert client.get("/assets/favicon-light.png").status_code == 200  # Locust's own, as a fallback


def test_a_build_path_given_is_served_instead(tmp_path):
    (tmp_path / "index.html").write_text("<html>another UI {{ template_args.state }}</html>")
    web_ui, _ = make_ui("--build-path", str(tmp_path))
    assert web_ui.app.test_client().get("/").get_data(as_text=True) == "<html>another UI ready</html>"


def test_download_data_lists_the_llm_files(ui):
    client, _ = ui
    page = client.get("/").get_data(as_text=True)
    args = json.loads(page.split("window.templateArgs = ", 1)[1].split("\n", 1)[0])
    assert args["extended_csv_files"] == webui.DOWNLOADS


def test_live_gives_the_running_summary_and_its_rows(ui):
    client, lifecycle = ui
    for i in range(4):
        lifecycle.metrics.add(record("text", second=i))
        lifecycle.metrics.add(record("base64", second=i + 0.5))
    live = client.get("/llm/live").get_json()
    expected = summarize(lifecycle.metrics)
    assert live["final"] is False and live["run"] == 1
    assert live["summary"]["completed"] == 8 and "time_series" not in live["summary"]
    assert live["summary"]["p99_ttft_ms"] == pytest.approx(expected["p99_ttft_ms"])
    assert set(live["summary"]["per_class"]) == {"text", "base64"}
    assert [row["t"] for row in live["series"]["all"]] == [int(T0) + i for i in range(4)]
    assert live["classes"] == {"text": {"users": ["TextChatUser"], "images": False},
                               "base64": {"users": ["Base64ImageChatUser"], "images": True}}


def test_live_since_gives_only_the_later_seconds(ui):
    client, lifecycle = ui
    for i in range(5):
        lifecycle.metrics.add(record("text", second=i))
    live = client.get(f"/llm/live?since={int(T0) + 2}").get_json()
    assert [row["t"] - int(T0) for row in live["series"]["all"]] == [3, 4]
    assert [row["t"] - int(T0) for row in live["series"]["per_class"]["text"]] == [3, 4]


def test_a_finished_run_shows_its_summary():
    web_ui, lifecycle = make_ui()
    lifecycle.metrics.add(record())
    lifecycle.summary = {**summarize(lifecycle.metrics), "model": "emulator"}
    live = web_ui.app.test_client().get("/llm/live").get_json()
    assert live["final"] is True and live["summary"]["model"] == "emulator"


def test_a_master_counts_seconds_complete_after_a_worker_report():
    view = webui.LlmView(FakeLifecycle(Environment(), is_master=True), wall=lambda: T0 + 10.5)
    assert view.live()["complete_until"] == int(T0) + 6  # 3 s reports, 1 s to arrive
    local = webui.LlmView(FakeLifecycle(Environment()), wall=lambda: T0 + 10.5)
    assert local.live()["complete_until"] == int(T0) + 10


def test_a_reset_starts_a_new_view_of_the_run(ui):
    client, lifecycle = ui
    before = client.get("/llm/live").get_json()["view"]
    lifecycle.environment.events.reset_stats.fire()
    lifecycle.metrics = LlmMetrics()
    assert client.get("/llm/live").get_json()["view"] != before


def test_summary_json_is_a_download_of_the_summary(ui):
    client, lifecycle = ui
    lifecycle.metrics.add(record())
    response = client.get("/llm/summary.json")
    assert response.headers["Content-Disposition"].startswith("attachment;filename=llm_summary_")
    assert json.loads(response.data)["completed"] == 1
    lifecycle.summary = {"completed": 1, "model": "m"}
    assert json.loads(client.get("/llm/summary.json").data) == {"completed": 1, "model": "m"}


def test_requests_csv_has_one_row_per_request(ui):
    client, lifecycle = ui
    empty = list(csv.reader(io.StringIO(client.get("/llm/requests.csv").get_data(as_text=True))))
    assert empty == [list(REQUEST_COLUMNS)]  # no request yet: the header alone
    rows = [request_row(record(second=i), None) for i in range(2500)]
    lifecycle.recent_rows = deque(rows)
    response = client.get("/llm/requests.csv")
    assert response.headers["Content-Disposition"].startswith("attachment;filename=llm_requests_")
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == list(REQUEST_COLUMNS) and len(table) == 2501
    assert table[1][:4] == ["text", "ok", "", "200"] and table[1][-1] == ""


def test_routes_follow_the_web_base_path():
    web_ui, _ = make_ui("--web-base-path", "/locust")
    client = web_ui.app.test_client()
    assert client.get("/locust/llm/live").status_code == 200
    assert client.get("/llm/live").status_code == 404


def test_without_the_build_locust_serves_its_own_ui(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(webui, "BUILD_PATH", tmp_path / "missing")
    web_ui, _ = make_ui()
    page = web_ui.app.test_client().get("/").get_data(as_text=True)
    assert "./assets/src-" in page  # Locust's own bundle
    assert "the web UI has no LLM tab" in caplog.text


def test_the_live_view_carries_the_servers_gauges(ui):
    client, lifecycle = ui
    lifecycle.summary = {"completed": 0, "per_class": {}, "server_metrics": {
        "available": True, "common": {"running": "vllm:num_requests_running"},
        "vllm:num_requests_running": {"type": "gauge", "series": [[T0, 1.0], [T0 + 1, 3.0]]}}}
    live = json.loads(client.get("/llm/live").data)
    assert live["server"] == {"available": True, "metrics": {"running": "vllm:num_requests_running"},
                              "series": {"running": [[T0, 1.0], [T0 + 1, 3.0]]}}
    lifecycle.summary["server_metrics"] = {"available": False, "reason": "HTTP 501"}
    assert json.loads(client.get("/llm/live").data)["server"] == {"available": False, "reason": "HTTP 501"}
