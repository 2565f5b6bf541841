"""The client's TTFT and ITL against the packets on the wire (tcpdump on loopback, read with dpkt).

Bounded: 16 streams for 3 s. Skipped, with the reason, where loopback cannot be captured.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import wire_check  # noqa: E402 - bench/ is not a package

pytestmark = pytest.mark.load


def test_each_requests_ttft_and_itl_match_the_wire():
    reason = wire_check.capture_error()
    if reason is not None:
        pytest.skip(f"no loopback capture here: {reason}")
    result = wire_check.check(streams=16, seconds=3, itl_ms="7", ttft_ms="50", max_tokens=64)
    assert result["requests"] >= 32 and result["unmatched"] == 0, wire_check.report(result)
    assert "0 packets dropped by kernel" in result["capture"], result["capture"]
    assert wire_check.verdict(result) == [], wire_check.report(result)
