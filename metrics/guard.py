"""A stop for a run whose requests can only fail: the first N all answered the same client error.

A wrong ``--model`` gave 1,917 x ``HTTP 404: The model 'qwen3' does not exist`` in 3 s from one
user, a wrong name on ``transformers serve`` 1,865 x 400, ``--ignore-eos`` there 2,069 x 422: a
request the server refuses for what it says is refused again, and a run of them measures
nothing. :class:`RepeatedErrorGuard` is fed every finished request and says, once, when the
first ``first`` of them all failed with one 4xx reason (as grouped for the report). One success
or one other outcome among them and it never fires. 408, 409, 425 and 429 are left out: the
same request may succeed later.
"""

from __future__ import annotations

from metrics.reasons import group_reason
from streaming.record import RequestRecord

TRANSIENT = frozenset({408, 409, 425, 429})
"""Client errors that may not repeat (timeout, conflict, too early, rate limit)."""

HINTS = {
    401: "check the API key ($OPENAI_API_KEY, --api-key-env or --api-key-file)",
    403: "check the API key ($OPENAI_API_KEY, --api-key-env or --api-key-file)",
    404: "check --model against the server's /v1/models, and the path in --host",
    413: "the request is too large for the server: fewer or smaller images, or a shorter prompt",
}
DEFAULT_HINT = "check the fields the server refuses (--model, --ignore-eos, --max-tokens, --input-len)"


class RepeatedErrorGuard:
    """Fed each finished request; returns a one-line reason to stop, once, or None."""

    __slots__ = ("first", "enabled", "_reason", "_seen", "_done")

    def __init__(self, first: int = 20, enabled: bool = True) -> None:
        self.first = first
        """How many requests, from the run's first, must all fail alike."""
        self.enabled = enabled and first > 0
        self._reason: str | None = None
        self._seen = 0
        self._done = not self.enabled
        """True once decided: fired, or a request broke the pattern."""

    def feed(self, record: RequestRecord) -> str | None:
        """The reason to stop the run, the first time the first ``first`` requests all failed
        with the same client error; None otherwise (and for every request after a decision)."""
        if self._done:
            return None
        reason = _client_error(record)
        if reason is None or (self._reason is not None and reason != self._reason):
            self._done = True
            return None
        self._reason, self._seen = reason, self._seen + 1
        if self._seen < self.first:
            return None
        self._done = True
        hint = HINTS.get(record.status, DEFAULT_HINT)
        return (f"stopped: the first {self._seen} requests all failed with {reason!r}, which will only "
                f"repeat; {hint} (or pass --no-stop-on-repeated-error)")


def _client_error(record: RequestRecord) -> str | None:
    """The grouped reason of a 4xx that will repeat, or None."""
    if record.ok or not 400 <= record.status < 500 or record.status in TRANSIENT:
        return None
    return group_reason(record.error or f"HTTP {record.status}")
