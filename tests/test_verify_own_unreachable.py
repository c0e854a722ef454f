"""Trial 28 D7: a host's own ICMP unreachable to itself is its failed ARP or neighbour
discovery, not a router's reject.

Captures in captures/trial28-own-unreachable (their .toml say how each was made): the
media server tried an agent address nobody has, captured with `tcpdump -i any` on it.
Linux held the SYN while it resolved the neighbour, and when its ARP requests (IPv4) or
neighbour solicitations (IPv6) got no answer it reported the destination unreachable to
its own sender: an ICMP from the media server to itself, on lo. It read "that router
could not reach fd77::99", a rule "in the forward chain of fd77::1" (the media server
itself) and capture_one_direction (no SYN ever left the host).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import stored_analysis

from flowcheck.config import build_config
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis
from flowcheck.profiles import load_profile
from flowcheck.verify.context import Context
from flowcheck.verify.evidence import missing_directions
from flowcheck.verify.refusals import data_refused_fix, refusal_causes, rejecting_device

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "captures" / "trial28-own-unreachable"


def _analyze(name: str) -> Analysis:
    return stored_analysis(HERE / f"{name}.pcap.gz")


def _check(analysis: Analysis, media: str, agent: str, resolution: str, neigh: str) -> None:
    assert analysis.verdict == "fail"
    codes = [f.code for f in analysis.findings]
    assert "capture_one_direction" not in codes
    [refused] = [f for f in analysis.findings if f.code == "control_refused"]
    words = refused.message + " " + refused.fix
    assert "that router" not in words and "forward chain" not in words
    assert f"from {media} to itself" in refused.message
    assert f"{media}'s own network stack" in refused.message
    assert resolution in refused.message
    assert f"SYN never left {media}" in refused.message
    assert neigh in refused.fix and f"correct the address {media} was given" in refused.fix
    assert "firewall" not in refused.fix
    [session] = analysis.sessions
    step = session.steps[0]
    assert step.status == "failed"
    assert step.detail.startswith(f"not sent: {media}'s own network stack reported {agent} "
                                  "unreachable")


def test_own_address_unreachable_is_failed_neighbour_discovery() -> None:
    analysis = _analyze("any-v6-agent-down")
    _check(analysis, "fd77::1", "fd77::99", "neighbour discovery",
           "`ip -6 neigh show fd77::99`")


def test_own_host_unreachable_is_failed_arp() -> None:
    analysis = _analyze("any-v4-agent-down")
    _check(analysis, "10.77.0.1", "10.77.0.99", "ARP", "`ip neigh show 10.77.0.99`")


def _own(code: int, src: str = "10.77.0.1", dst: str = "10.77.0.2") -> Connection:
    """A data connection refused by its originator's own ICMP (code) to itself."""
    conn = Connection("C3", src, 5002, dst, 6001, 1.0, icmp_frames=[4])
    conn.icmp_code, conn.icmp_sender = code, src  # rare fields: not __init__'s
    return conn


def _context(conn: Connection) -> Context:
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})
    return Context([conn], [], [], config, load_profile("backup-exec-9"))


@pytest.mark.parametrize(("src", "dst", "code", "how", "asked"), [
    ("10.77.0.1", "10.77.0.2", 1, "an ICMP host unreachable (code 1)", "ARP"),
    ("fd77::1", "fd77::2", 3, "an ICMPv6 address unreachable (code 3)", "neighbour discovery")])
def test_a_data_connection_its_own_host_reported_unreachable(
        src: str, dst: str, code: int, how: str, asked: str) -> None:
    """data_refused and callback_refused read the same words: no port in use, no router."""
    conn = _own(code, src, dst)
    ctx = _context(conn)
    words = refusal_causes(ctx, conn)
    assert words.startswith(f"{src} could not send the SYN to "), words
    assert f"{src}'s {asked} for {dst}" in words
    assert f"{how} from {src} to itself" in words
    assert "already in use" not in words and "that router" not in words
    fix = data_refused_fix(ctx, conn, None)  # type: ignore[arg-type]
    assert fix.startswith(f"Check that {dst} is up"), fix
    assert "forward chain" not in fix and "netstat" not in fix
    assert [side for side in missing_directions([conn])] == []


def test_a_filter_code_from_the_originator_itself_is_its_own_output_rule() -> None:
    """An administratively prohibited from the originator to itself: a reject rule in
    its own output chain, not a device between the hosts."""
    conn = _own(13)
    ctx = _context(conn)
    assert rejecting_device(conn) is None
    words = refusal_causes(ctx, conn)
    assert "a reject rule in 10.77.0.1's own firewall (its output rules)" in words, words
    fix = data_refused_fix(ctx, conn, None)  # type: ignore[arg-type]
    assert "the reject rule is in 10.77.0.1's own firewall (its output rules)" in fix, fix
    assert "forward chain" not in fix
