"""The aiohttp application: routes, the per-request flow and the timed stream writer."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from emulator.batch import BatchService
from emulator.chunks import ChatChunkFormat, ChunkFormat, CompletionChunkFormat, error_body, usage
from emulator.config import EmulatorConfig
from emulator.faults import BODY_FAULTS, HTTP_FAULTS, FaultPicker
from emulator.log import RequestLog, RequestRecord
from emulator.metrics import ServedMetrics
from emulator.mindie import MindieChatFormat, timings
from emulator.net import ArrivalClock
from emulator.player import Player
from emulator.reply import Reply, plan_reply
from emulator.script import StreamShape, choices_events, split_pieces, stream_events
from emulator.timing import LoadModel, Pacer, Schedule
from emulator.tokens import OutputWords, PromptCounter
from emulator.validate import BadRequest, GenOptions, parse_chat, parse_completion
from emulator.vision import ImageInfo, ImageResolver

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
KEEP_ALIVE = {"Keep-Alive": "timeout=5, max=100"}
"""What llama-server announces on every stream, although it then closes the connection."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A checked request reduced to what generation needs."""

    prompt_tokens: int
    images: list[ImageInfo]
    options: GenOptions
    ignored_images: int = 0


class UnknownModel(Exception):
    """The request named a model this server does not serve (``--strict-model``)."""


def new_id(prefix: str) -> str:
    return prefix + os.urandom(8).hex()


class Emulator:
    """The server's state, built once from the config; its methods are the route handlers."""

    def __init__(self, config: EmulatorConfig, tokenizer: object) -> None:
        self.config = config
        self.words = OutputWords(tokenizer)
        self.counter = PromptCounter(tokenizer)
        self.load = LoadModel(config)
        # First tokens and later ones meet different load (later tokens of concurrent streams fall
        # due together), so each kind of wake learns its own mean lateness.
        self.pacers = (Pacer(), Pacer())
        self.arrivals = ArrivalClock()
        self.faults = FaultPicker(config.faults, config.seed, config.fault_windows)
        self.images = ImageResolver(config.image_url_allow, config.image_fetch_timeout_s)
        self.log = RequestLog(config.log_path) if config.log_path else None
        self.served = ServedMetrics(config.model, config.kv_cache_tokens, lambda: self.load.active)
        self._word_rng = random.Random(f"{config.seed}/words")
        self._started = int(time.time())

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "chatcmpl-", ChatChunkFormat, self._prepare_chat)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "cmpl-", CompletionChunkFormat, self._prepare_completion)

    async def models(self, request: web.Request) -> web.Response:
        model = {"id": self.config.model, "object": "model", "created": self._started, "owned_by": "emulator"}
        return web.json_response({"object": "list", "data": [model] if self.config.list_models else []})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def answer(self, path: str, raw: bytes) -> tuple[int, bytes]:
        """One request's whole non-streamed answer at once, as (status, body): a Batch API line."""
        chat = path == "/v1/chat/completions"
        prepare = self._prepare_chat if chat else self._prepare_completion
        try:
            prepared = await prepare(raw)
            self._check_model(prepared.options.model)
        except UnknownModel as exc:
            return 404, error_body(404, "NotFoundError", str(exc))
        except BadRequest as exc:
            return 400, exc.body()
        fmt = (ChatChunkFormat if chat else CompletionChunkFormat)(
            new_id("chatcmpl-" if chat else "cmpl-"), self.config.model, int(time.time()))
        words = self.words.take(self.output_len(prepared), self._word_rng.randrange(len(self.words.words)))
        return 200, fmt.body("".join(words), usage(prepared.prompt_tokens, len(words)))

    async def close(self, app: web.Application) -> None:
        await self.images.close()
        if self.log is not None:
            self.log.close()

    async def _prepare_chat(self, raw: bytes) -> Prepared:
        req = parse_chat(raw, self.config.default_max_tokens)
        if req.images and self.config.text_only:
            raise BadRequest("this emulator runs --text-only: image_url parts are not accepted", "messages")
        if self.config.ignore_images:
            tokens = await self.counter.chat(req.messages)
            return Prepared(self._fit(tokens), [], req.options, ignored_images=len(req.images))
        images = await self.images.resolve(req.images)
        tokens = await self.counter.chat(req.messages) + sum(image.tokens for image in images)
        return Prepared(self._fit(tokens), images, req.options)

    async def _prepare_completion(self, raw: bytes) -> Prepared:
        req = parse_completion(raw, self.config.default_max_tokens)
        tokens = req.prompt_ids if req.prompt is None else await self.counter.text(req.prompt)
        return Prepared(self._fit(tokens), [], req.options)

    def _check_model(self, model: str) -> None:
        if self.config.strict_model and model and model != self.config.model:
            raise UnknownModel(f"The model `{model}` does not exist.")

    def _fit(self, prompt_tokens: int) -> int:
        """``prompt_tokens``, checked against ``--context-len`` (a 400 when no output would fit)."""
        limit = self.config.context_len
        if limit and prompt_tokens >= limit:
            raise BadRequest(f"This model's maximum context length is {limit} tokens; the prompt has "
                             f"{prompt_tokens}, which leaves no room for output", "messages")
        return prompt_tokens

    def output_len(self, prepared: Prepared) -> int:
        """Tokens to generate: ``max_tokens``, trimmed to what the context leaves (vLLM and
        llama-server stop there with finish_reason "length")."""
        limit = self.config.context_len
        wanted = prepared.options.max_tokens
        return min(wanted, limit - prepared.prompt_tokens) if limit else wanted

    async def _generate(
        self,
        request: web.Request,
        prefix: str,
        fmt_class: type[ChunkFormat],
        prepare: Callable[[bytes], Awaitable[Prepared]],
    ) -> web.StreamResponse:
        t0 = self.arrivals.arrival(request.transport, time.perf_counter())
        record = RequestRecord(new_id(prefix), request.path, time.time())
        request["request_id"] = record.request_id
        try:
            prepared = await prepare(await request.read())
            self._check_model(prepared.options.model)
            return await self._respond(request, record, t0, fmt_class, prepared)
        except UnknownModel as exc:
            record.status, record.outcome = 404, "unknown_model"
            return web.Response(status=404, body=error_body(404, "NotFoundError", str(exc)),
                                content_type="application/json")
        except BadRequest as exc:
            record.status, record.outcome = 400, "bad_request"
            return web.Response(status=400, body=exc.body(), content_type="application/json")
        except web.HTTPException as exc:
            record.status, record.outcome = exc.status, "bad_request"
            raise
        except Exception:
            record.status, record.outcome = 500, "server_error"
            raise
        finally:
            self.served.finished(record)
            if self.log is not None:
                self.log.write(record)

    async def _respond(
        self,
        request: web.Request,
        record: RequestRecord,
        t0: float,
        fmt_class: type[ChunkFormat],
        prepared: Prepared,
    ) -> web.StreamResponse:
        _describe(record, prepared)
        if self.config.mindie and prepared.options.features.n > 1:
            raise BadRequest("n must be 1 with this MindIE-style server, got "
                             f"{prepared.options.features.n}.", "n")
        fault = self.faults.draw()
        if fault in HTTP_FAULTS:
            record.status, record.outcome = HTTP_FAULTS[fault].status, fault
            return _http_fault(fault)
        with self.load.request(), self.served.holding(prepared.prompt_tokens + self.output_len(prepared)):
            megapixels = sum(image.megapixels for image in prepared.images)
            reply = self._reply(prepared, chat=fmt_class is ChatChunkFormat)
            thinking = len(reply.choices[0].reasoning)
            schedule = Schedule(t0, self.load.ttft_s(prepared.prompt_tokens, megapixels), self.load.itl_s,
                                keep_gaps=self.config.mindie, mark=thinking if thinking else None)
            record.ttft_ms = schedule.ttft_s * 1000
            fmt = self._format(fmt_class, record, prepared, schedule)
            send = self._stream if prepared.options.stream else self._body
            response = await send(request, record, fmt, reply, prepared, schedule, fault)
            itl_s = 0.0 if self.config.instant else schedule.mean_itl_s
            record.itl_ms = itl_s * 1000 if itl_s is not None else None
            _describe_reply(record, reply, schedule)
            return response

    def _reply(self, prepared: Prepared, chat: bool) -> Reply:
        """What this request generates (``emulator.reply``): reasoning and tool calls on chat only."""
        features = prepared.options.features
        if not chat and features.tool is not None:
            features = dataclasses.replace(features, tool=None)
        count = len(self.words.words)
        start = random.Random(features.seed).randrange(count) if features.seed is not None else (
            self._word_rng.randrange(count))
        reasoning = self.config.reasoning_tokens if chat else 0
        total = self.output_len(prepared)
        return plan_reply(self.words.take, start, total, features, reasoning, self.words.count)

    def _format(self, fmt_class: type[ChunkFormat], record: RequestRecord, prepared: Prepared,
                schedule: Schedule) -> ChunkFormat:
        """The chunk format of this response: vLLM's, or MindIE's with ``--mindie``."""
        config, created = self.config, int(record.t_received)
        if fmt_class is ChatChunkFormat:
            if config.mindie:
                return MindieChatFormat(record.request_id, config.model, created, config.reasoning_field,
                                        prepared.prompt_tokens, schedule, prepared.options.features.full_text)
            return ChatChunkFormat(record.request_id, config.model, created, config.reasoning_field)
        fmt = fmt_class(record.request_id, config.model, created)
        if config.mindie:
            fmt.finish_fields = lambda: timings(schedule)
        return fmt

    def _usage(self, prepared: Prepared, reply: Reply) -> dict[str, Any]:
        counts: dict[str, Any] = usage(prepared.prompt_tokens, reply.completion_tokens)
        if self.config.reasoning_tokens:
            counts["completion_tokens_details"] = {"reasoning_tokens": reply.reasoning_tokens}
        return counts

    async def _stream(
        self,
        request: web.Request,
        record: RequestRecord,
        fmt: ChunkFormat,
        reply: Reply,
        prepared: Prepared,
        schedule: Schedule,
        fault: str | None,
    ) -> web.StreamResponse:
        shape = StreamShape.of(self.config, prepared.options.include_usage)
        counts, per_chunk = self._usage(prepared, reply), self.config.tokens_per_chunk
        if len(reply.choices) > 1:
            events = choices_events(fmt, reply.choices, counts, shape, per_chunk)
        else:
            one = reply.choices[0]
            events = stream_events(fmt, split_pieces(one.answer, per_chunk), counts, shape, fault,
                                   self.config.stall_s, split_pieces(one.reasoning, per_chunk), one.finish,
                                   one.tool)
        close = self.config.close_after_stream
        response = web.StreamResponse(headers={**SSE_HEADERS, **KEEP_ALIVE} if close else SSE_HEADERS)
        response.enable_chunked_encoding()
        await response.prepare(request)
        record.outcome = fault or "ok"
        timed = not self.config.instant or fault == "stall"
        player = Player(response, self.pacers if timed else None)
        finished = await player.play(events, schedule)
        whole = finished and fault is None
        record.completion_tokens = reply.completion_tokens if whole else player.sent_tokens
        record.ttft_served_ms = _since_ms(schedule.t0, player.first_content_at)
        if not finished:
            record.outcome = "client_disconnected"
        elif fault == "cut" and request.transport is not None:
            request.transport.close()
        elif close and request.transport is not None:
            request.protocol.close()  # no later request of this connection is handled, however queued
            request.transport.close()  # and the socket closes now, right after the stream, as llama-server's
        return response

    async def _body(
        self,
        request: web.Request,
        record: RequestRecord,
        fmt: ChunkFormat,
        reply: Reply,
        prepared: Prepared,
        schedule: Schedule,
        fault: str | None,
    ) -> web.StreamResponse:
        fault = fault if fault in BODY_FAULTS else None
        record.outcome = fault or "ok"
        pause_s = self.config.stall_s if fault == "stall" else 0.0
        await self.pacers[1].until(schedule.advance(_steps(reply), pause_s))
        body = self._document(fmt, reply, prepared)
        if fault == "cut" and request.transport is not None:
            request.transport.close()
            return web.Response(status=200)
        record.completion_tokens = reply.completion_tokens
        record.ttft_served_ms = _since_ms(schedule.t0, time.perf_counter())
        if fault == "malformed":
            body = body[: len(body) // 2]
        return web.Response(body=body, content_type="application/json")


    def _document(self, fmt: ChunkFormat, reply: Reply, prepared: Prepared) -> bytes:
        """The non-streamed body: every choice, with its reasoning and tool call."""
        counts, choices = self._usage(prepared, reply), reply.choices
        one = choices[0]
        if len(choices) == 1 and not one.reasoning and one.tool is None:
            return fmt.body("".join(one.answer), counts, one.finish)
        chat = isinstance(fmt, ChatChunkFormat)
        messages = [c.message(self.config.reasoning_field) if chat else {"text": "".join(c.answer)}
                    for c in choices]
        return fmt.choices_body(messages, [c.finish for c in choices], counts)


def _steps(reply: Reply) -> int:
    """Decode steps of a reply: its longest choice's tokens (choices are generated side by side;
    a tool call's name is one step)."""
    return max(len(c.reasoning) + len(c.answer) + (c.tool is not None) for c in reply.choices)


def _describe_reply(record: RequestRecord, reply: Reply, schedule: Schedule) -> None:
    record.reasoning_tokens = reply.reasoning_tokens
    record.ttfo_ms = _since_ms(schedule.t0, schedule.marked_at)
    record.choices = len(reply.choices)
    record.finish_reason = reply.choices[0].finish


def _since_ms(t0: float, t: float | None) -> float | None:
    return (t - t0) * 1000 if t is not None else None


def _describe(record: RequestRecord, prepared: Prepared) -> None:
    record.stream = prepared.options.stream
    record.prompt_tokens = prepared.prompt_tokens
    record.images_base64 = sum(1 for image in prepared.images if image.kind == "base64")
    record.images_url = sum(1 for image in prepared.images if image.kind == "url")
    record.image_tokens = sum(image.tokens for image in prepared.images)
    record.images_ignored = prepared.ignored_images
    record.features = prepared.options.features.seen


def _http_fault(name: str) -> web.Response:
    fault = HTTP_FAULTS[name]
    headers = {"Retry-After": "1"} if fault.retry_after else None
    body = error_body(fault.status, fault.kind, fault.message)
    return web.Response(status=fault.status, body=body, content_type="application/json", headers=headers)


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("x-request-id", request.get("request_id") or new_id("req-"))


def _require_key(key: str):
    """A middleware answering 401 (OpenAI-style) to /v1 requests without ``Bearer <key>``."""
    expected = f"Bearer {key}"

    @web.middleware
    async def check(request: web.Request, handler):
        if request.path.startswith("/v1/") and request.headers.get("Authorization") != expected:
            body = error_body(401, "AuthenticationError", "missing or invalid API key")
            return web.Response(status=401, body=body, content_type="application/json")
        return await handler(request)

    return check


def build_app(emulator: Emulator) -> web.Application:
    key = emulator.config.api_key
    app = web.Application(client_max_size=int(emulator.config.max_body_mb * 2**20),
                          middlewares=[_require_key(key)] if key else [])
    app.router.add_post("/v1/chat/completions", emulator.chat)
    app.router.add_post("/v1/completions", emulator.completions)
    app.router.add_get("/v1/models", emulator.models)
    app.router.add_get("/metrics", emulator.served.handle)
    app.router.add_get("/health", emulator.health)
    BatchService(emulator.config.batch, emulator.answer).register(app)
    app.on_response_prepare.append(_add_request_id)
    app.on_cleanup.append(emulator.close)
    return app


async def serve(
    emulator: Emulator, sock: socket.socket, url: str, stop: asyncio.Event,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Serve the emulator on `sock` until `stop` is set (HTTPS with `ssl_context`); announces `url` on
    stdout once listening."""
    runner = web.AppRunner(build_app(emulator), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    assert runner.server is not None
    loop = asyncio.get_running_loop()
    factory = emulator.arrivals.protocol_factory(runner.server)
    server = await loop.create_server(factory, sock=sock, backlog=1024, ssl=ssl_context)
    try:
        print(f"emulator listening on {url}", flush=True)
        await stop.wait()
    finally:
        server.close()
        await runner.cleanup()
