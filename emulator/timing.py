"""When each token is due: delay distributions, the load model and drift-free deadlines.

Truth for one request (all times from the moment its handler starts):
    TTFT = draw(--ttft-*) + prefill_ms_per_1k_tokens * prompt_tokens / 1000
                          + prefill_ms_per_mpixel * image_megapixels
    gap before token k>0 = draw(--itl-*) + itl_ms_per_stream * (active requests - 1)
Token k is due at t0 + TTFT + gap_1 + ... + gap_k (absolute deadlines, so sleeps never drift).
The active count is read when each gap is planned, like a continuous-batching server whose
decode steps slow down while the batch is larger.

Delivery is unbiased on average, not always late: the event loop's timers have 1 ms granularity
and a burst of due streams is written one after another, so a Pacer learns its mean lateness
(an exponential average) and aims that much early. Single writes land within about +-0.5 ms of
their deadline when idle (+-2 ms in bursts of 64 streams), with a mean error near zero. The
server keeps one Pacer for first tokens and one for the rest, as they meet different bursts.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from emulator.config import DelaySpec, EmulatorConfig

# How fast the Pacer's lead follows its observed lateness, and the bounds of that lead.
_LEAD_GAIN = 0.05
_LEAD_MIN_S = -0.001
_LEAD_MAX_S = 0.005


class Sampler:
    """Draws delays in ms from a DelaySpec, never below zero.

    const: always `mean_ms`; uniform: mean +- spread; normal: mean, std dev spread (clipped at 0);
    exponential: mean `mean_ms`; lognormal: mean `mean_ms`, std dev `spread_ms`.
    """

    def __init__(self, spec: DelaySpec, rng: random.Random) -> None:
        self.spec = spec
        self._rng = rng
        self._draw = getattr(self, f"_{spec.dist}")

    def draw_ms(self) -> float:
        return max(0.0, self._draw(self.spec.mean_ms, self.spec.spread_ms))

    def _const(self, mean: float, spread: float) -> float:
        return mean

    def _uniform(self, mean: float, spread: float) -> float:
        return self._rng.uniform(mean - spread, mean + spread)

    def _normal(self, mean: float, spread: float) -> float:
        return self._rng.gauss(mean, spread)

    def _exponential(self, mean: float, spread: float) -> float:
        return self._rng.expovariate(1.0 / mean) if mean > 0 else 0.0

    def _lognormal(self, mean: float, spread: float) -> float:
        if mean <= 0:
            return 0.0
        sigma2 = math.log1p((spread / mean) ** 2)
        return self._rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


class LoadModel:
    """The server's load: counts active requests and plans TTFT and ITL from them."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._ttft = Sampler(config.ttft, random.Random(f"{config.seed}/ttft"))
        self._itl = Sampler(config.itl, random.Random(f"{config.seed}/itl"))
        self._per_1k_tokens_ms = config.prefill_ms_per_1k_tokens
        self._per_mpixel_ms = config.prefill_ms_per_mpixel
        self._per_stream_ms = config.itl_ms_per_stream
        self.active = 0

    @contextmanager
    def request(self) -> Iterator[None]:
        """Count one request as active (in prefill or decode) while the block runs."""
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1

    def ttft_s(self, prompt_tokens: int, megapixels: float) -> float:
        prefill = self._per_1k_tokens_ms * prompt_tokens / 1000 + self._per_mpixel_ms * megapixels
        return (self._ttft.draw_ms() + prefill) / 1000

    def itl_s(self) -> float:
        load = self._per_stream_ms * max(0, self.active - 1)
        return (self._itl.draw_ms() + load) / 1000


class Schedule:
    """Absolute deadlines (perf_counter seconds) of one request's tokens.

    ``keep_gaps`` keeps every planned gap (MindIE's ``decode_time_arr`` reports them); ``mark``
    is a token index whose deadline is kept as ``marked_at`` (the first answer token after
    reasoning).
    """

    def __init__(self, t0: float, ttft_s: float, itl_s: Callable[[], float], keep_gaps: bool = False,
                 mark: int | None = None) -> None:
        self.t0 = t0
        self.ttft_s = ttft_s
        self._itl_s = itl_s
        self.deadline = t0
        self.tokens = 0
        self._gaps_s = 0.0
        self.gaps_s: list[float] | None = [] if keep_gaps else None
        self.mark = mark
        self.marked_at: float | None = None

    def advance(self, tokens: int, pause_s: float = 0.0) -> float:
        """Plan `tokens` more tokens after an optional pause; returns when the last of them is due."""
        self.deadline += pause_s
        for _ in range(tokens):
            if self.tokens == 0:
                self.deadline += self.ttft_s
            else:
                gap = self._itl_s()
                self._gaps_s += gap
                self.deadline += gap
                if self.gaps_s is not None:
                    self.gaps_s.append(gap)
            if self.tokens == self.mark:
                self.marked_at = self.deadline
            self.tokens += 1
        return self.deadline

    @property
    def mean_itl_s(self) -> float | None:
        """Mean planned gap between tokens so far, or None before the second token."""
        return self._gaps_s / (self.tokens - 1) if self.tokens > 1 else None


class Pacer:
    """Sleeps until perf_counter() deadlines, aiming early by its learned mean lateness."""

    def __init__(self) -> None:
        self.lead_s = 0.0

    async def until(self, deadline: float) -> None:
        aim = deadline - self.lead_s
        left = aim - time.perf_counter()
        if left <= 0:
            return
        await asyncio.sleep(left)
        late = time.perf_counter() - aim
        lead = self.lead_s + _LEAD_GAIN * (late - self.lead_s)
        self.lead_s = min(_LEAD_MAX_S, max(_LEAD_MIN_S, lead))
