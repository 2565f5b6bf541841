"""The per-request record: what one request sent, what came back, and when."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field, replace


@dataclass(slots=True)
class RequestRecord:
    """Everything measured about one request, filled in as the response streams.

    Times are ``time.perf_counter()`` seconds taken when the bytes arrived; ``wall_start``
    is ``time.time()`` at send, so records from several workers can share one timeline.
    """

    traffic_class: str
    """Which kind of traffic sent it ("text", "image-url", "base64", ...)."""
    t_start: float = 0.0
    """perf_counter just before the request was written."""
    wall_start: float = 0.0
    t_first: float = 0.0
    """Arrival of the first chunk carrying a token (content, reasoning or tool call)."""
    t_end: float = 0.0
    """Arrival of the last byte of the response (or of the failure)."""
    token_times: array = field(default_factory=lambda: array("d"))
    """Arrival time of every token-bearing chunk (answer, reasoning or tool call), in order."""
    text_parts: list[str] = field(default_factory=list)
    """The answer as it arrived: content and tool-call text (name and arguments), no reasoning."""
    reasoning_parts: list[str] = field(default_factory=list)
    """Reasoning text as it arrived (``reasoning_content`` or ``reasoning`` deltas)."""
    first_answer: int = -1
    """Index in ``token_times`` of the first chunk carrying answer content or a tool call (-1: none)."""
    status: int = 0
    finish_reason: str | None = None
    usage: dict | None = None
    timings: dict | None = None
    """llama-server's ``timings`` object, when it sent one (``predicted_n``: output tokens)."""
    done_marker: bool = False
    """True when ``data: [DONE]`` was seen (not every server sends it)."""
    payload_tokens: int = 0
    """Prompt tokens the payload factory says it built, template included (0 when unknown)."""
    template_overhead: int = 0
    """Of ``payload_tokens``, those the chat template adds (measured, not hidden)."""
    input_tokens: int = 0
    """The server's ``usage.prompt_tokens`` when it sent one, else ``payload_tokens``."""
    max_tokens: int = 0
    """The output limit the request asked for (0 when it set none)."""
    output_tokens: int = 0
    """All output tokens, reasoning included (as ``usage.completion_tokens`` counts them)."""
    output_tokens_source: str = ""
    """Where the count came from: "usage" (the server's), "timings" (llama-server's own count
    without usage), "tokenizer" (the text re-counted), "chunks" (token-bearing chunks, when they
    outnumber the re-count) or "max_tokens" (a re-count above the limit asked for, capped)."""
    reasoning_tokens: int = 0
    """Of ``output_tokens``, the reasoning ones."""
    reasoning_tokens_source: str = ""
    """"usage" (``usage.completion_tokens_details.reasoning_tokens``), "tokenizer" (the reasoning
    text re-counted), "chunks" (reasoning chunks, without a tokenizer); empty when none arrived."""
    server_prefill_ms: float | None = None
    """The server's own time to the first token (MindIE's ``prefill_time``, ms), when it sent one."""
    server_decode_ms: list[float] | None = None
    """The server's own gaps between output tokens (MindIE's ``decode_time_arr``, ms), when sent."""
    full_text: str | None = None
    """The whole answer as the server last sent it (MindIE's ``full_text``, asked for with
    ``fullTextEnabled``), to check against the deltas."""
    images: int = 0
    """Images the request carried."""
    image_pixels: int = 0
    """Their pixels (width x height), where the client knows them (0: it does not, e.g. user URLs)."""
    image_bytes: int = 0
    """Their encoded bytes, where the client knows them."""
    request_bytes: int = 0
    response_bytes: int = 0
    error: str | None = None
    """A short, stable failure reason (None on success); groups failures in reports."""
    request_id: str = ""
    custom_id: str = ""
    turn: int = 0
    """Turn index in a multi-turn conversation (0 for single-turn traffic)."""
    attempts: int = 1
    """1, or more when a retry policy re-sent the request after a 429/503."""
    retry_after: float | None = None
    """The server's ``Retry-After`` in seconds, when it sent one."""
    queue_time: float | None = None
    """Open-loop load: seconds the request's arrival waited for a free user (None in closed loop)."""
    resent: bool = False
    """True when the request went out once more on a fresh connection, because the reused one
    had been closed by the server before any byte of an answer (the request is counted once)."""

    def next_attempt(self) -> RequestRecord:
        """Keep this attempt's outcome in a copy; reset what the response filled in, for a retry."""
        done = replace(self, token_times=self.token_times, text_parts=self.text_parts,
                       reasoning_parts=self.reasoning_parts)
        self.token_times, self.text_parts, self.reasoning_parts = array("d"), [], []
        self.first_answer = -1
        self.t_first = self.t_end = 0.0
        self.status, self.finish_reason, self.usage, self.done_marker = 0, None, None, False
        self.timings = self.server_prefill_ms = self.server_decode_ms = self.full_text = None
        self.output_tokens, self.output_tokens_source, self.response_bytes = 0, "", 0
        self.reasoning_tokens, self.reasoning_tokens_source = 0, ""
        self.error, self.request_id, self.retry_after = None, "", None
        self.attempts += 1
        return done

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def server_prompt_tokens(self) -> int | None:
        """The server's ``usage.prompt_tokens``, or None when it sent none."""
        prompt = (self.usage or {}).get("prompt_tokens")
        return prompt if isinstance(prompt, int) else None

    @property
    def ttft(self) -> float | None:
        return self.t_first - self.t_start if self.token_times else None

    @property
    def e2e(self) -> float:
        return self.t_end - self.t_start

    @property
    def ttfo(self) -> float | None:
        """Time to the first answer token (content or tool call), reasoning before it included;
        None without one (a non-streamed request, or one whose output was all reasoning)."""
        at = self.first_answer
        return self.token_times[at] - self.t_start if 0 <= at < len(self.token_times) else None

    @property
    def text(self) -> str:
        """The answer: content and tool-call text, without the reasoning."""
        return "".join(self.text_parts)

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def server_prefill(self) -> float | None:
        """The server's own TTFT in seconds (``prefill_time``), or None."""
        return self.server_prefill_ms / 1e3 if self.server_prefill_ms is not None else None

    def server_itls(self) -> list[float]:
        """The server's own gaps between tokens in seconds (``decode_time_arr``), or none."""
        return [ms / 1e3 for ms in self.server_decode_ms or ()]

    @property
    def ttft_minus_server_prefill(self) -> float | None:
        """Client TTFT minus the server's: network, queueing before the server's clock starts,
        and the client's own delay, in seconds (None unless both are known)."""
        ttft, prefill = self.ttft, self.server_prefill
        return ttft - prefill if ttft is not None and prefill is not None else None

    def itls(self) -> list[float]:
        """Gaps between consecutive token-bearing chunks, in seconds."""
        times = self.token_times
        return [times[i] - times[i - 1] for i in range(1, len(times))]

    @property
    def tpot(self) -> float | None:
        """(E2E - TTFT) / (output tokens - 1), as vLLM's benchmark defines it."""
        if not self.token_times or self.output_tokens < 2:
            return None
        return (self.t_end - self.t_first) / (self.output_tokens - 1)
