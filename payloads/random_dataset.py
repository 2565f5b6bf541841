"""vLLM's `random` dataset, made exact: every prompt encodes to exactly the length drawn for it."""

from __future__ import annotations

import math
import random
from typing import Any

from payloads.errors import PayloadError
from payloads.prompts import PromptFactory
from payloads.request import SampleRequest
from payloads.tokenizer import decode_ids, encode_ids

_EPSILON = 1e-9


class RandomDataset:
    """Requests of random exact lengths from corpus text (or noise with a `random_ids` factory).

    Input and output lengths are drawn uniformly (integers, >= 1) in [len * (1 - r), len * (1 + r)].
    As in vLLM, `prefix_len` tokens of shared text come before the `input_len` tokens, identical in every
    request (to exercise prefix caching): prompt_tokens = prefix_len + input length. `unique_prefix=True`
    instead starts every prompt with "Request <seed>.<i>:" (inside the input length) to defeat prefix
    caching, also across workers seeded differently; prompts shorter than that tag get its first tokens.
    """

    def __init__(
        self, tokenizer: Any, input_len: int = 1024, output_len: int = 128, range_ratio: float = 0.0,
        prefix_len: int = 0, unique_prefix: bool = False, seed: int = 0, factory: PromptFactory | None = None,
    ) -> None:
        _validate(input_len, output_len, range_ratio, prefix_len, unique_prefix, seed)
        self.tokenizer = tokenizer
        self.factory = factory if factory is not None else PromptFactory(tokenizer, seed=seed)
        self.input_range = length_range(input_len, range_ratio)
        self.output_range = length_range(output_len, range_ratio)
        self.unique_prefix = unique_prefix
        self._seed = seed
        self._rng = random.Random(seed)
        self._count = 0
        self._shared = tuple(encode_ids(tokenizer, self.factory.make(prefix_len).text)) if prefix_len else ()

    def sample(self) -> SampleRequest:
        """The next request."""
        index, self._count = self._count, self._count + 1
        input_tokens = self._rng.randint(*self.input_range)
        output_tokens = self._rng.randint(*self.output_range)
        head = self._unique_head(index, input_tokens) if self.unique_prefix else self._shared
        total = input_tokens + len(self._shared)
        prompt = self.factory.make(total, head)
        messages = [{"role": "user", "content": prompt.text}]
        return SampleRequest(messages, prompt.tokens_made, prompt.template_overhead, output_tokens)

    def take(self, count: int) -> list[SampleRequest]:
        """The next `count` requests."""
        return [self.sample() for _ in range(count)]

    def _unique_head(self, index: int, input_tokens: int) -> tuple[int, ...]:
        """The ids of "Request <seed>.<index>:", cut to fit before at least one body token."""
        ids = encode_ids(self.tokenizer, f"Request {self._seed}.{index}:\n")
        for keep in range(min(len(ids), input_tokens - 1), 0, -1):
            if encode_ids(self.tokenizer, decode_ids(self.tokenizer, ids[:keep])) == ids[:keep]:
                return tuple(ids[:keep])
        return ()


def length_range(length: int, ratio: float) -> tuple[int, int]:
    """Inclusive integer bounds of [length * (1 - ratio), length * (1 + ratio)], never below 1."""
    low = max(1, math.floor(length * (1 - ratio) + _EPSILON))
    high = max(low, math.ceil(length * (1 + ratio) - _EPSILON))
    return low, high


def _validate(
    input_len: Any, output_len: Any, range_ratio: Any, prefix_len: Any, unique_prefix: bool, seed: Any
) -> None:
    _check_int("input_len", input_len, 1)
    _check_int("output_len", output_len, 1)
    _check_int("prefix_len", prefix_len, 0)
    _check_int("seed", seed, None)
    if isinstance(range_ratio, bool) or not isinstance(range_ratio, int | float) or not 0 <= range_ratio < 1:
        raise PayloadError(f"range_ratio={range_ratio!r}: accepted values are numbers in [0, 1)")
    if unique_prefix and prefix_len:
        raise PayloadError(
            f"unique_prefix=True with prefix_len={prefix_len}: choose one (a shared prefix or a unique start)"
        )


def _check_int(name: str, value: Any, minimum: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        accepted = "integers" if minimum is None else f"integers >= {minimum}"
        raise PayloadError(f"{name}={value!r}: accepted values are {accepted}")
