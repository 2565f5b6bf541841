"""What one batch did: its states as the client saw them, its end, and the check of its files."""

from __future__ import annotations

from dataclasses import dataclass, field

from batch.check import CheckReport

STATES = ("validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling",
          "cancelled")
"""Every status a batch can have."""
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
OUTCOMES = ("completed", "failed", "expired", "cancelled", "stopped", "error")
"""How a batch ends for the load test: the server's terminal status; ``stopped`` (the test
stopped first: the batch was cancelled, as cleanup); ``error`` (an upload, create, poll or
download call failed, so the client gave up on it)."""


@dataclass(slots=True)
class BatchResult:
    """One batch, from upload to checked files; times are seconds after the create call returned."""

    lines: int
    """Lines in the input file."""
    cancel_planned: bool = False
    """This batch was picked for ``--batch-cancel-share``."""
    batch_id: str = ""
    input_file_id: str = ""
    status: str = ""
    """The last status the server gave ("" before the batch was created)."""
    outcome: str = ""
    """One of :data:`OUTCOMES`, set when the batch ends."""
    error: str | None = None
    """Why the client gave up (``error``), or how the test's stop found it (``stopped``)."""
    wall_created: float = 0.0
    """``time.time()`` when the create call returned (0.0: never created)."""
    wall_end: float = 0.0
    seen: dict[str, float] = field(default_factory=dict)
    """Status -> when a poll first saw it. Polls are ``--batch-poll-interval`` apart or more, so a
    time is late by up to one poll interval."""
    cancel_sent: float | None = None
    """When the cancel request went out (None: never)."""
    polls: int = 0
    request_counts: dict | None = None
    """The server's last ``request_counts`` ({total, completed, failed})."""
    server_errors: list[str] = field(default_factory=list)
    """The batch's own ``errors`` (why it failed validation), as ``code: message`` lines."""
    check: CheckReport | None = None
    """The output and error files, checked (None when there were none to fetch)."""

    @property
    def turnaround(self) -> float | None:
        """Created -> completed, in seconds; None unless the batch completed."""
        return self.seen.get("completed") if self.outcome == "completed" else None

    @property
    def lines_per_s(self) -> float | None:
        """Lines answered per second of turnaround (completed batches)."""
        turnaround = self.turnaround
        return self.lines / turnaround if turnaround else None
