"""Emulator pieces without a server: options, timing, stream scripts, chunks, validation, tokens, vision."""

import asyncio
import random
import socket
import statistics
import time

import orjson
import pytest
from aiohttp import web

from emulator.chunks import DONE, ChatChunkFormat, CompletionChunkFormat, usage
from emulator.config import ConfigError, DelaySpec, EmulatorConfig, parse_args
from emulator.faults import FaultPicker
from emulator.net import ArrivalClock
from emulator.script import StreamShape, split_pieces, stream_events
from emulator.timing import LoadModel, Pacer, Sampler, Schedule
from emulator.tokens import OutputWords, PromptCounter, load_tokenizer
from emulator.validate import BadRequest, parse_chat, parse_completion
from emulator.vision import decode_data_uri, smart_resize, vision_tokens


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(None)


# --- options -------------------------------------------------------------------------------------


def test_defaults_are_loopback_port_8000_and_auto_usage():
    config = parse_args([])
    assert (config.host, config.port, config.usage_mode, config.default_max_tokens) == (
        "127.0.0.1", 8000, "auto", 256)
    assert not config.instant


def test_all_zero_delays_make_the_config_instant():
    assert parse_args(["--ttft-ms", "0", "--itl-ms", "0"]).instant
    assert not parse_args(["--ttft-ms", "0", "--itl-ms", "0", "--itl-ms-per-stream", "1"]).instant


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--usage-mode", "sometimes"], "--usage-mode 'sometimes'"),
        (["--ttft-dist", "gamma"], "--ttft-dist 'gamma'"),
        (["--itl-ms", "-1"], "--itl-ms -1"),
        (["--tokens-per-chunk", "0"], "--tokens-per-chunk 0"),
        (["--fault", "meteor=0.1"], "--fault name 'meteor'"),
        (["--fault", "cut"], "--fault 'cut'"),
        (["--fault", "cut=1.5"], "--fault cut rate 1.5"),
        (["--fault", "cut=0.6", "--fault", "stall=0.6"], "sum to 1.2"),
        (["--ttft-spread-ms", "5"], "--ttft-spread-ms 5"),
        (["--host", "8.8.8.8"], "--host '8.8.8.8' is not loopback"),
        (["--port", "70000"], "--port 70000"),
        (["--port", "eighty"], "invalid int value: 'eighty'"),
        (["--context-len", "-1"], "--context-len -1"),
        (["--text-only", "--ignore-images"], "--text-only rejects images and --ignore-images takes them"),
    ],
)
def test_bad_options_raise_one_line_errors_naming_the_value(argv, named):
    with pytest.raises(ConfigError) as info:
        parse_args(argv)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_faults_parse_into_pairs_and_ipv6_loopback_is_accepted():
    config = parse_args(["--fault", "http500=0.25", "--fault", "cut=0.5", "--host", "::1"])
    assert config.faults == (("http500", 0.25), ("cut", 0.5))


# --- timing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dist", ["uniform", "normal", "lognormal"])
def test_spread_distributions_keep_their_mean_and_spread(dist):
    sampler = Sampler(DelaySpec(50.0, dist, 10.0), random.Random(1))
    draws = [sampler.draw_ms() for _ in range(20000)]
    assert statistics.mean(draws) == pytest.approx(50.0, abs=0.5)
    expected_sd = 10.0 / 3**0.5 if dist == "uniform" else 10.0
    assert statistics.pstdev(draws) == pytest.approx(expected_sd, rel=0.05)


def test_exponential_has_the_mean_and_draws_never_go_negative():
    exp = Sampler(DelaySpec(20.0, "exponential"), random.Random(2))
    assert statistics.mean(exp.draw_ms() for _ in range(20000)) == pytest.approx(20.0, rel=0.05)
    wide = Sampler(DelaySpec(1.0, "normal", 50.0), random.Random(3))
    assert min(wide.draw_ms() for _ in range(2000)) == 0.0


def test_schedule_deadlines_are_absolute_ttft_then_one_itl_per_token():
    schedule = Schedule(t0=100.0, ttft_s=0.120, itl_s=lambda: 0.007)
    assert schedule.advance(0) == 100.0
    assert schedule.advance(1) == pytest.approx(100.120)
    assert schedule.advance(3) == pytest.approx(100.141)
    assert schedule.advance(1, pause_s=2.0) == pytest.approx(102.148)
    assert schedule.mean_itl_s == pytest.approx(0.007)


def test_load_model_adds_prefill_to_ttft_and_concurrency_to_itl():
    config = EmulatorConfig(ttft=DelaySpec(100.0), itl=DelaySpec(5.0), prefill_ms_per_1k_tokens=40.0,
                            prefill_ms_per_mpixel=10.0, itl_ms_per_stream=0.5)
    load = LoadModel(config)
    assert load.ttft_s(prompt_tokens=2000, megapixels=3.0) == pytest.approx(0.210)
    with load.request(), load.request(), load.request():
        assert load.active == 3
        assert load.itl_s() == pytest.approx(0.006)
    assert load.active == 0 and load.itl_s() == pytest.approx(0.005)


def test_pacer_mean_lateness_is_near_zero():
    async def run() -> list[float]:
        pacer, errors = Pacer(), []
        deadline = time.perf_counter()
        for _ in range(120):
            deadline += 0.003
            await pacer.until(deadline)
            errors.append(time.perf_counter() - deadline)
        return errors[40:]

    assert abs(statistics.mean(asyncio.run(run()))) < 0.0005


# --- stream scripts ------------------------------------------------------------------------------


def _fmt():
    return ChatChunkFormat("chatcmpl-test", "emulator", 1)


def _decoded(events):
    return [orjson.loads(e.data[6:]) if e.data != DONE else "[DONE]" for e in events]


def _shape(**kw):
    base = {"usage_in_finish": False, "usage_separate": True, "done": True, "content_in_finish": False}
    return StreamShape(**{**base, **kw})


def test_pieces_send_the_first_token_alone_then_n_per_chunk():
    words = [" a", " b", " c", " d", " e", " f"]
    assert split_pieces(words, 1) == [(w, 1) for w in words]
    assert split_pieces(words, 2) == [(" a", 1), (" b c", 2), (" d e", 2), (" f", 1)]


def test_vllm_shape_role_content_finish_usage_done():
    pieces = split_pieces([" a", " b", " c"], 1)
    events = stream_events(_fmt(), pieces, usage(7, 3), _shape())
    chunks = _decoded(events)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"]["content"] for c in chunks[1:4]] == [" a", " b", " c"]
    assert chunks[4]["choices"][0]["finish_reason"] == "length" and "usage" not in chunks[4]
    assert chunks[5]["choices"] == [] and chunks[5]["usage"]["completion_tokens"] == 3
    assert chunks[6] == "[DONE]"
    assert [e.tokens for e in events] == [0, 1, 1, 1, 0, 0, 0]


def test_transformers_shape_usage_in_finish_chunk_and_no_done():
    events = stream_events(_fmt(), split_pieces([" a", " b"], 1), usage(7, 2),
                           _shape(usage_in_finish=True, usage_separate=False, done=False))
    last = _decoded(events)[-1]
    assert last["choices"][0]["finish_reason"] == "length" and last["usage"]["total_tokens"] == 9


def test_content_in_finish_carries_the_last_token():
    events = stream_events(_fmt(), split_pieces([" a", " b"], 1), usage(7, 2), _shape(content_in_finish=True))
    chunks = _decoded(events)
    assert chunks[2]["choices"][0] == {"index": 0, "delta": {"content": " b"}, "logprobs": None,
                                       "finish_reason": "length"}
    assert events[2].tokens == 1


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("no_done", lambda ev: ev[-1].data != DONE and b'"finish_reason":"length"' in ev[-2].data),
        ("no_finish", lambda ev: ev[-1].data == DONE and all(b'"length"' not in e.data for e in ev)),
        ("cut", lambda ev: ev[-1].close and sum(e.tokens for e in ev) == 3),
        ("error_in_stream", lambda ev: b'"error":{' in ev[-1].data and sum(e.tokens for e in ev) == 3),
        ("stall", lambda ev: [e.pause_s for e in ev].count(1.5) == 1),
        ("empty_choices", lambda ev: sum(b'"choices":[]}' in e.data for e in ev) == 6),
    ],
)
def test_stream_faults_reshape_the_script(fault, check):
    pieces = split_pieces([" a", " b", " c", " d", " e", " f"], 1)
    events = stream_events(_fmt(), pieces, usage(7, 6), _shape(), fault, stall_s=1.5)
    assert check(events)


def test_malformed_fault_breaks_exactly_one_chunk():
    events = stream_events(_fmt(), split_pieces([" a", " b", " c"], 1), usage(1, 3), _shape(), "malformed")
    broken = []
    for event in events[:-1]:
        try:
            orjson.loads(event.data[6:])
        except orjson.JSONDecodeError:
            broken.append(event)
    assert len(broken) == 1 and b'" b"' in broken[0].data


def test_completion_chunks_have_text_and_no_role_chunk():
    fmt = CompletionChunkFormat("cmpl-x", "emulator", 1)
    events = stream_events(fmt, split_pieces([" a"], 1), usage(1, 1), _shape())
    first = orjson.loads(events[0].data[6:])
    assert first["object"] == "text_completion" and first["choices"][0]["text"] == " a"


def test_fault_picker_is_seeded_and_follows_rates():
    draws = [FaultPicker((("cut", 0.25), ("stall", 0.25)), seed=5).draw() for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same first draw
    picker = FaultPicker((("cut", 0.25), ("stall", 0.25)), seed=6)
    names = [picker.draw() for _ in range(8000)]
    assert names.count("cut") / 8000 == pytest.approx(0.25, abs=0.02)
    assert names.count(None) / 8000 == pytest.approx(0.5, abs=0.02)


# --- request validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[]", None),
        (b'{"messages": []}', "messages"),
        (b'{"messages": [{"role": "robot", "content": "x"}]}', "messages"),
        (b'{"messages": [{"role": "user", "content": 5}]}', "messages"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "8"}', "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 2.5}',
         "max_completion_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
        (b'{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}',
         "messages"),
    ],
)
def test_malformed_chat_bodies_are_bad_requests_naming_the_param(body, param):
    with pytest.raises(BadRequest) as info:
        parse_chat(body, 256)
    assert info.value.param == param
    error = orjson.loads(info.value.body())["error"]
    assert error["type"] == "BadRequestError" and error["code"] == 400 and error["message"]


def test_chat_parsing_joins_text_parts_and_collects_images_by_kind():
    body = orjson.dumps({
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "one"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": "two"},
            {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/x.png"}},
        ]}],
        "max_completion_tokens": 9, "max_tokens": 99, "ignore_eos": True, "min_tokens": 2, "top_k": 3,
    })
    req = parse_chat(body, 256)
    assert req.messages == (("user", "one\ntwo"),)
    assert [i.kind for i in req.images] == ["base64", "url"]
    assert req.options.max_tokens == 9  # max_completion_tokens wins, unknown fields are ignored


def test_completions_take_no_images_and_default_max_tokens():
    with pytest.raises(BadRequest) as info:
        parse_completion(b'{"prompt": "x", "image_url": {"url": "data:image/png;base64,AA"}}', 256)
    assert "send images to /v1/chat/completions" in info.value.message
    assert parse_completion(b'{"prompt": [1, 2, 3]}', 256).prompt_ids == 3
    assert parse_completion(b'{"prompt": "hi"}', 256).options.max_tokens == 256


# --- tokens --------------------------------------------------------------------------------------


def test_output_words_re_tokenize_to_exactly_the_count_emitted(tokenizer):
    words = OutputWords(tokenizer)
    text = "".join(words.take(500, start=17))
    assert len(tokenizer.encode(text, add_special_tokens=False)) == 500


def test_prompt_count_equals_the_chat_template_token_count(tokenizer):
    messages = (("system", "You are terse."), ("user", "Write a haiku about load testing."),
                ("assistant", "Servers hum."), ("user", "Again"))
    chat = [{"role": r, "content": c} for r, c in messages]
    templated = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
    expected = len(templated["input_ids"])
    for inline_chars in (10_000, 0):  # counted on the loop, and in a worker thread
        counter = PromptCounter(tokenizer, inline_chars=inline_chars)
        assert asyncio.run(counter.chat(messages)) == expected
        assert asyncio.run(counter.text("hello world")) == len(tokenizer.encode("hello world"))


# --- vision --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "tokens"),
    [((640, 480), 17 * 23 + 2), ((64, 64), 2 * 2 + 2), ((10, 10), 2 * 2 + 2), ((4000, 3000), 30 * 41 + 2)],
)
def test_vision_tokens_follow_the_qwen2_vl_rule(size, tokens):
    assert vision_tokens(*size) == tokens


def test_smart_resize_keeps_area_within_bounds():
    h, w = smart_resize(3000, 4000)
    assert h % 28 == 0 and w % 28 == 0 and h * w <= 28 * 28 * 1280


def test_bad_data_uris_are_bad_requests():
    with pytest.raises(BadRequest, match="invalid base64"):
        decode_data_uri("data:image/png;base64,@@@", "image 1")
    with pytest.raises(BadRequest, match="data:image/<type>;base64"):
        decode_data_uri("data:text/plain;base64,AAAA", "image 1")


# --- sockets -------------------------------------------------------------------------------------


def test_arrival_stamping_keeps_aiohttp_setting_tcp_nodelay():
    seen = []

    async def handler(request):
        sock = request.transport.get_extra_info("socket")
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return web.Response(text="ok")

    async def run() -> bytes:
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        server = await asyncio.get_running_loop().create_server(
            ArrivalClock().protocol_factory(runner.server), "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        server.close()
        await runner.cleanup()
        return answer

    assert asyncio.run(run()).startswith(b"HTTP/1.1 200") and seen == [1]


def test_fault_window_gives_its_fault_to_every_request_inside_it(monkeypatch):
    from emulator import faults as fault_module
    from emulator.config import parse_fault_windows

    clock = [100.0]
    monkeypatch.setattr(fault_module.time, "monotonic", lambda: clock[0])
    picker = fault_module.FaultPicker((), 0, parse_fault_windows(["http503=2-4"]))
    drawn = []
    for t in (0.5, 1.99, 2.0, 3.5, 3.99, 4.0, 9.0):
        clock[0] = 100.0 + t
        drawn.append(picker.draw())
    assert drawn == [None, None, "http503", "http503", "http503", None, None]


@pytest.mark.parametrize("spec", ["http503", "http503=5-2", "nosuch=1-2", "http503=a-b"])
def test_bad_fault_window_is_a_one_line_config_error(spec):
    from emulator.config import ConfigError, parse_fault_windows

    with pytest.raises(ConfigError, match="--fault-window"):
        parse_fault_windows([spec])
