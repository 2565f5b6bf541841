"""What a run shares between its users: settings, tokenizer, payloads, metrics.

Built once per process from :class:`Settings`; knows nothing of Locust's events (the
hooks module wires it in and hands each user a client with the reporting seam).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import ssl
from collections.abc import Callable, Iterator
from functools import partial
from typing import Protocol

import gevent
import httptools
import orjson

from conf.images import check_reachable
from conf.settings import ENDPOINTS, Settings, SettingsError
from metrics.request_log import open_request_log
from payloads.conversation import Conversation
from payloads.datasets import ShareGPTConversation, load_sharegpt
from payloads.errors import PayloadError
from payloads.image_supply import ImageSupply
from payloads.prompts import PromptFactory
from payloads.random_dataset import RandomDataset
from payloads.replay import Replay, load_dataset
from payloads.request import SampleRequest
from transport.client import ChatClient, Reporter, RetryPolicy
from transport.http import StreamingHttp
from transport.inflight import InFlight
from transport.tls import describe
from transport.wire import ConnectionClosed

log = logging.getLogger("llm")
SEED_STRIDE = 1_000_003
"""Workers' seeds are ``--seed`` plus this many times their index: every worker sends
different prompts, conversations and images, and ``--seed`` still reproduces the run."""


class Sampler(Protocol):
    def sample(self) -> SampleRequest: ...


Compute = Callable[..., object]
"""Runs ``fn(*args)`` and returns its result (raising what it raised): where a caller chooses
whether heavy computation runs on the event loop or off it."""


def _call(fn: Callable[..., object], *args: object) -> object:
    return fn(*args)


class Runtime:
    """Per-process state of an LLM load test."""

    def __init__(
        self,
        settings: Settings,
        tokenizer: object | None = None,
        sampler: Sampler | None = None,
        worker: int | None = None,
    ) -> None:
        self.settings = settings
        self.worker = worker
        """This worker's index from the master (None outside a worker): offsets seeds, names the
        request log."""
        self.tokenizer = tokenizer
        self.sampler = sampler
        """Where each request's messages and lengths come from (random exact-length or a dataset)."""
        offset = SEED_STRIDE * (worker or 0)
        self.images = ImageSupply(dataclasses.replace(settings.images, seed=settings.images.seed + offset))
        self._conversations: Iterator[ShareGPTConversation] | None = None
        self._factory: PromptFactory | None = None
        self.request_log = open_request_log(settings.request_log, worker) if settings.request_log else None
        self.count_tokens: Callable[[str], int] | None = None
        if tokenizer is not None:
            encode = tokenizer.encode  # type: ignore[attr-defined]
            self.count_tokens = lambda text: len(encode(text, add_special_tokens=False))

    def new_client(self, reporter: Reporter, inflight: InFlight) -> ChatClient:
        """A client with its own kept-alive connection, for one simulated user."""
        s = self.settings
        http = StreamingHttp(
            s.target, s.auth_headers(),
            connect_timeout=s.connect_timeout, verify_tls=s.verify_tls, ca_cert=s.ca_cert,
        )
        return ChatClient(
            http, reporter, self.count_tokens,
            first_token_timeout=s.first_token_timeout or None, total_timeout=s.request_timeout or None,
            idle_timeout=s.idle_timeout, retry=RetryPolicy(s.retries, s.retry_max_wait), inflight=inflight,
        )

    def body_for(self, sample: SampleRequest) -> dict:
        """The request body for ``sample``: its own fields, plus the run's model, streaming and
        request features (a dataset line's own fields win over the features)."""
        s = self.settings
        body = sample.to_body(stream=s.stream, include_usage=s.include_usage)
        s.features.apply(body, keep=sample.body_extra)
        body["model"] = s.model
        if s.ignore_eos:
            body.setdefault("ignore_eos", True)
        if s.endpoint == ENDPOINTS["completions"]:
            texts = [m["content"] for m in body.pop("messages") if isinstance(m["content"], str)]
            body["prompt"] = "\n".join(texts)
        return body

    def prepare(self, traffic_classes: set[str], compute: Compute = _call) -> None:
        """Build what the run's traffic needs before it starts (image pool, image server).

        The pool is built and ``--conversations`` read through ``compute`` (the caller's way to
        run a function off the event loop), the image server started here, on the loop.
        """
        data_uris, urls = "base64" in traffic_classes, "image-url" in traffic_classes
        try:
            if urls:
                check_reachable(self.settings.images, self.settings.target.host)
            compute(self.images.build_pool, data_uris, urls)
            self.images.prepare(data_uris, urls)
            if "multi-turn" in traffic_classes and self.settings.conversations:
                self._load_conversations(compute)
        except ValueError as exc:  # ImageError, PayloadError, DatasetError: one-line user errors
            raise SettingsError(str(exc)) from None

    def _load_conversations(self, compute: Compute = _call) -> Iterator[ShareGPTConversation]:
        if self._conversations is None:
            s = self.settings
            loaded, report = compute(partial(load_sharegpt, s.conversations, skip_bad=s.dataset_skip_bad))
            log.info("LLM conversations %s", report.summary())
            self._conversations = itertools.cycle(loaded)
        return self._conversations

    def new_conversation(self) -> Conversation:
        """The next conversation: from ``--conversations`` (cycled), else from the payload factory."""
        s = self.settings
        if s.conversations:
            return Conversation.from_sharegpt(next(self._load_conversations()), self.tokenizer, s.max_tokens)
        if self._factory is None:
            seed = s.seed + 7919 + SEED_STRIDE * (self.worker or 0)
            self._factory = PromptFactory(self.tokenizer, seed=seed)
        return Conversation.from_factory(self._factory, s.turns, s.input_len, s.max_tokens)

    def close(self) -> None:
        self.images.close()
        if self.request_log is not None:
            self.request_log.close()


def make_sampler(settings: Settings, tokenizer: object, offset: int = 0) -> Sampler:
    """A random exact-length dataset, or a replay of ``--dataset``; ``offset`` varies it per worker."""
    s = settings
    try:
        if s.dataset:
            records, report = load_dataset(s.dataset, s.dataset_format, tokenizer, s.dataset_skip_bad)
            log.info("LLM dataset %s", report)
            return Replay(records, start=offset * 9973)
        return RandomDataset(
            tokenizer, input_len=s.input_len, output_len=s.max_tokens, range_ratio=s.range_ratio,
            prefix_len=s.prefix_len, unique_prefix=s.unique_prefix, seed=s.seed + SEED_STRIDE * offset,
        )
    except PayloadError as exc:
        raise SettingsError(str(exc)) from None


def probe_target(settings: Settings, timeout: float = 5.0) -> str | None:
    """Check the target answers and serves ``--model``; return the first model it lists.

    Asked through the run's own client (same TLS context: ``--insecure`` and ``--ca-cert`` hold
    here too). Unreachable, a TLS failure, or refusing our key (401/403): a one-line
    :class:`SettingsError`. A redirect is not followed (urllib followed it and copied
    ``Authorization`` to wherever it pointed): the error names where it points. Where
    ``/v1/models`` lists models, a ``--model`` it does not list is one too, naming the listed
    ones: a wrong name otherwise failed every request (1,917 x HTTP 404 in 3 s from one user).
    A list that is empty (``transformers serve`` lists nothing, and wants the model's path)
    with no ``--model`` says what such a server expects. A server error (5xx) there asks
    ``/health`` too: a server still loading its model (both 5xx) is not ready, a one-line
    error rather than a run of failures. Other answers (a gateway without ``/v1/models``)
    return None: ``--model`` must then be given.
    """
    status, location, body = _get(settings, "/v1/models", timeout)
    target = settings.target
    if status in (401, 403):
        raise SettingsError(
            f"--host {target}: answered HTTP {status} (API key missing or refused); put the "
            "key in $OPENAI_API_KEY, or name its variable (--api-key-env) or file (--api-key-file)"
        )
    if 300 <= status < 400 and location:
        raise SettingsError(
            f"--host {target}: /v1/models answered HTTP {status}, a redirect to {location}; redirects are "
            "not followed (the API key would go along): pass the address the target really serves as --host"
        )
    if status >= 500:
        health = _get(settings, "/health", timeout)[0]
        if health >= 500:
            raise SettingsError(
                f"--host {target}: not ready: /v1/models answered HTTP {status} and /health HTTP {health} "
                "(a server still loading its model answers so); start the run once /health answers 200"
            )
    if status != 200:
        return None
    try:
        models = orjson.loads(body).get("data")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    if not isinstance(models, list):
        return None
    listed = [str(m["id"]) for m in models if isinstance(m, dict) and "id" in m]
    check_model(settings, listed)
    return listed[0] if listed else None


def _get(settings: Settings, path: str, timeout: float) -> tuple[int, str, bytes]:
    """``GET path`` on a connection of its own: status, ``Location`` and body."""
    target = settings.target
    http = None
    try:
        http = StreamingHttp(target, settings.auth_headers(), connect_timeout=timeout,
                             verify_tls=settings.verify_tls, ca_cert=settings.ca_cert)
        with gevent.Timeout(timeout, TimeoutError(f"no answer within {timeout:g} s")):
            response, body = http.get(path, limit=1 << 22)
    except ssl.SSLError as exc:
        raise SettingsError(f"--host {target}: TLS error: {describe(exc)}") from None
    except (OSError, ConnectionClosed, httptools.HttpParserError) as exc:
        reason = " ".join(str(exc).split()) or exc.__class__.__name__
        raise SettingsError(f"--host {target}: unreachable ({reason})") from None
    finally:
        if http is not None:
            http.close()
    return response.status_code, response.get("location") or "", body


def check_model(settings: Settings, listed: list[str]) -> None:
    """A one-line :class:`SettingsError` when ``--model`` is not among the ``listed`` ids (an
    id ``NAME@revision``, as ``transformers serve`` answers, matches ``NAME``), or when nothing
    is listed and no ``--model`` says what to send."""
    model = settings.model
    if not listed:
        if not model:
            raise SettingsError(
                f"--host {settings.target}: /v1/models lists no model; pass --model with the name the server "
                "was started with (transformers serve: the model's local path or Hub id, as given to it)"
            )
        return
    if not model or any(name == model or name.startswith(model + "@") for name in listed):
        return
    shown = ", ".join(listed[:10]) + (f" and {len(listed) - 10} more" if len(listed) > 10 else "")
    raise SettingsError(
        f"--model {model}: {settings.target} serves {shown} (its /v1/models); pass one of them, "
        "or leave --model out for the first"
    )
