"""Review 56m: field check 63's two readings against the lab (tests/data/review56m).

A bridge's reject is marked leaving the bridge host, so a merge of the bridge host's
`tcpdump -i any` with the media server's holds the reject "sent by a capture host"; the
SYNs it refused are marked there arriving for another host (PACKET_OTHERHOST), never at
the host they were addressed to, so own_reject.merged_reject_sent keeps the bridge named.

A host's capture of both directions whose SYNs a bridge between dropped marks every SYN
leaving it, as a `-Q out` set does; its ARP reply and neighbour advertisement arriving
show it held both directions, so verify.opening.leaving_only does not call it `-Q out`.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

DATA = Path(__file__).resolve().parent / "data" / "review56m"
CONFIG = {"ndmp_port": 10000, "media_range": "5001-5100", "agent_range": "6001-6100",
          "media_servers": ["10.77.0.1", "fd77::1"], "remote_agents": ["10.77.0.2", "fd77::2"]}


def _errors(name: str, code: str) -> list[Finding]:
    """The `code` findings of DATA/name, judged with CONFIG (verdict fail)."""
    config = build_config(dict(CONFIG))
    analysis = analyze(read_traffic([str(DATA / name)], config), config)
    assert analysis.verdict == "fail"
    return [f for f in analysis.findings if f.code == code]


def test_a_bridge_hosts_capture_of_its_reject_keeps_the_bridge_named() -> None:
    """The bridge host's capture merged with M's: the reject marked leaving a capture
    host, the SYNs marked arriving there for another host: not the marks of A's own."""
    refused = _errors("bridge-port-reject-bridge-host-and-media-merged-sll2.pcap",
                      "control_refused")
    assert len(refused) == 4  # two connections each over IPv6 and IPv4
    for finding in refused:
        host = "fd77::2" if "[fd77::2]:10000" in finding.message else "10.77.0.2"
        assert (f"a firewall on {host}, or a bridge (transparent) firewall in front of {host} "
                "answering in its name, rejects it" in finding.message)
        assert "router in front of" not in finding.message
        assert "this capture merges two hosts' captures" not in finding.message
        assert f"in a bridge (transparent) firewall in front of {host}" in finding.fix


def test_a_hosts_both_directions_capture_of_leaving_syns_is_not_called_q_out() -> None:
    """M's `tcpdump -i any`, its SYNs over both families dropped by the bridge: every
    SYN marked leaving, but the ARP reply (frame 6) arriving: no "(tcpdump -Q out)", and
    the filter hedge its ARP reply asks for kept."""
    unanswered = _errors("media-any-dual-syns-dropped-by-bridge-sll2.pcap",
                         "control_unanswered")
    assert sorted(f.frames[0] for f in unanswered) == [7, 10]
    for finding in unanswered:
        assert "tcpdump -Q out" not in finding.fix
        assert "none arriving" not in finding.fix
        assert "If this capture was taken on " in finding.fix
    [v4] = [f for f in unanswered if f.frames[0] == 7]
    assert "it holds an ARP reply (frame 6) from 10.77.0.2 to 10.77.0.1" in v4.message
    assert ("If this capture was taken with a filter, take one that keeps 10.77.0.2's TCP "
            "too" in v4.fix)
