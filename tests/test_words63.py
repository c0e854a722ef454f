"""Words of session 63's last readings: a port reused toward another peer
(captures/newuser66-twojobs), range_too_small's fix where several jobs stopped on the
range (captures/newuser66), and where to capture both directions when the capture shows
where it was taken."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
RANGES = {"media_range": "5001-5100", "agent_range": "6001-6100"}


def _findings(capture: Path, code: str, **settings: object) -> list[Finding]:
    """The findings of `code` analyze reports for `capture` under `settings`."""
    config = build_config(settings)
    result = analyze(read_traffic([str(capture)], config), config)
    return [f for f in result.findings if f.code == code]


def test_a_port_reused_toward_another_peer_says_tcp_allows_it() -> None:
    # 10.66.1.1:5005 connected to 10.66.2.2:6002, then to 10.66.3.2:6002 4.95 s later:
    # the contract's warning stays, and says the held port did not stop the connection.
    [reused] = _findings(CAPTURES / "newuser66-twojobs" / "twojobs-s96.pcap",
                         "port_reused_within_hold", **RANGES)
    assert reused.severity.value == "warning"
    assert "It connected to another peer endpoint than before (10.66.2.2:6002, then " \
        "10.66.3.2:6002): TCP lets a port connect again to another peer endpoint " \
        "while its earlier connection waits in TIME-WAIT" in reused.message, reused.message
    assert "a note on the range's capacity only" in reused.message
    # The fix is the one it was: the new connection failed for its own reason.
    assert reused.fix.startswith("C8 on the reused port did not work, but nothing shows "
                                 "the port as the cause"), reused.fix
