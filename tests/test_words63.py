"""Words of session 63's last readings: a port reused toward another peer
(captures/newuser66-twojobs), range_too_small's fix where several jobs stopped on the
range (captures/newuser66), and where to capture both directions when the capture shows
where it was taken."""

from __future__ import annotations

import tomllib
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


def _config_of(case: Path) -> dict:
    """The settings a stored case was recorded with (its NAME.toml)."""
    return tomllib.loads(case.with_name(case.name.split(".")[0] + ".toml").read_text())


def test_range_too_small_of_several_jobs_says_start_fewer_at_once() -> None:
    # Four 1-resource jobs 0.5 s apart in agent range 6001-6004, jobs 3 and 4 stopped on
    # it: fewer jobs within the hold is a fix, not only fewer resources.
    case = CAPTURES / "newuser66" / "agent-range-timewait.pcap.gz"
    [small] = _findings(case, "range_too_small", **_config_of(case))
    assert small.fix.endswith(", or start fewer jobs within port_hold_seconds (60 s) of "
                              "each other, or run fewer resources at once."), small.fix


def test_range_too_small_of_one_job_keeps_fewer_resources() -> None:
    # One 3-resource job in agent range 6001-6002: no other job shared the range.
    case = CAPTURES / "rangesmall" / "agent-range-small.pcap"
    [small] = _findings(case, "range_too_small", **_config_of(case))
    assert small.fix.endswith("docs/configuration.md), or run fewer resources at once."), \
        small.fix
