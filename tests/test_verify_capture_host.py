"""Which host a capture was taken on, from the TTLs (flowcheck.verify.ttl.capture_host):
a host's own packets leave it with an initial TTL (64, 128, 255), the peer's arrive lower
by the routers between; equal or both lowered TTLs tell nothing. Where the words said
"if this capture was taken on X", they say it plainly when the TTLs show it.

captures/ndmjob-firewall/v4-restore-data-syn-drop-at-media.pcap (the media server's own
firewall drops the agent's data SYNs, captured on the media server, one bridge: TTL 64
each way) as stored, and with one host's packets rewritten to TTL 63 as if a router
stood between the hosts: the agent's (the capture on the media server) or the media
server's (the capture on the agent).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from scapy.all import IP
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.model import Connection, Finding
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.verify.proof_cache import ProofCache
from flowcheck.verify.ttl import capture_host

FIREWALL = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-firewall"
NAME = "v4-restore-data-syn-drop-at-media"
M, A = "10.77.0.1", "10.77.0.2"


def _unanswered(tmp_path: Path, routed: str | None, *, ranges: bool = True) -> Finding:
    """data_unanswered of the capture, `routed`'s packets (an address) at TTL 63; ranges:
    with the case's media and agent ranges (False: flowcheck's defaults)."""
    path = FIREWALL / f"{NAME}.pcap"
    if routed is not None:
        packets = read_packets(str(path))
        for packet in packets:
            if IP in packet and packet[IP].src == routed:
                packet[IP].ttl = 63
                del packet[IP].chksum
        path = tmp_path / f"{NAME}.pcap"
        write_packets(str(path), packets)
    settings = load_file(FIREWALL / f"{NAME}.toml")
    config = build_config(settings if ranges else
                          {key: value for key, value in settings.items()
                           if not key.endswith("_range")})
    analysis = analyze(read_traffic([str(path)], config), config)
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    return finding


def test_on_the_responder_its_own_firewall_is_named(tmp_path: Path) -> None:
    finding = _unanswered(tmp_path, routed=A)
    # Trial 17 D5: input chain (the SYNs) or output chain (the SYN-ACKs), the host first.
    assert ("never answered: 10.77.0.1's own firewall drops them: this capture was taken "
            "on 10.77.0.1 (or on its network segment: 10.77.0.1's packets arrive with TTL 64, "
            "an initial value, "
            "and 10.77.0.2's with 63: a router between them), where the SYNs arrived and no "
            "SYN-ACK left: its input chain drops the SYNs (the packet tap sees arriving "
            "packets before the firewall) or its output chain drops its SYN-ACKs"
            ) in finding.message
    assert "unless it was taken on" not in finding.message
    # The mover's port 5014 is drawn from the media range anew for each job: the rule on
    # the media server names the range, as `flowcheck firewall` does (newuser61).
    # The TTLs place the capture on 10.77.0.1 or its segment alike (field check 75 run
    # 28: dumpcap on the router's side of the media server's segment).
    assert finding.fix.startswith("On 10.77.0.1 itself (this capture was taken there or on "
                                  "its network segment, as the TTLs show), before "
                                  "any drop rule: accept the connection from 10.77.0.2 to "
                                  "ports 5001-5100 (the media range: this connection's port "
                                  "5014 is drawn from it anew each time) in its input chain")
    assert "ct state established,related accept" in finding.fix
    assert "This capture was taken" not in finding.fix


def test_on_the_responder_with_the_default_range_its_rule_names_the_range_to_set(
        tmp_path: Path) -> None:
    # No range configured: the port this job used and the range it is drawn from, after
    # the fixes' lead that asks for the ranges (fix_notes.default_ranges_first); the rule
    # names which range and does not ask again to set it (review61b: "(set --media-range
    # to it)" followed "First set --media-range and --agent-range").
    finding = _unanswered(tmp_path, routed=A, ranges=False)
    assert finding.fix.startswith("First set --media-range and --agent-range")
    assert ("Until then, for this job: on 10.77.0.1 itself (this capture was taken there or "
            "on its network segment, as the TTLs show), before any drop rule: accept the "
            "connection from 10.77.0.2 to port 5014 (the "
            "media port this job used) and the rest of the media range it is drawn from in "
            "its input chain") in finding.fix
    assert finding.fix.count("set --media-range") == 1


def test_on_the_connector_the_way_stays_unknown(tmp_path: Path) -> None:
    finding = _unanswered(tmp_path, routed=M)
    assert ("the capture holds no SYN-ACK, which looks the same either way: this capture was "
            "taken on 10.77.0.2 (or on its network segment: 10.77.0.2's packets arrive with "
            "TTL 64, an initial value, "
            "and 10.77.0.1's with 63: a router between them), not on 10.77.0.1"
            ) in finding.message
    assert finding.fix.endswith(" This capture was taken on 10.77.0.2 or on its network "
                                "segment: a capture on "
                                "10.77.0.1 shows which way they are lost; with a router "
                                "between them, allow them in its forward chain too "
                                "(`flowcheck firewall`: \"on a firewall or router between "
                                "them\").")


def test_one_segment_tells_nothing(tmp_path: Path) -> None:
    finding = _unanswered(tmp_path, routed=None)
    assert ("which looks the same either way unless it was taken on 10.77.0.1 itself (there, "
            "SYNs arriving with no SYN-ACK leaving are its own firewall's drop)"
            ) in finding.message
    assert (" If this capture was taken on 10.77.0.1, its own firewall drops the SYNs or its "
            "SYN-ACKs; otherwise a capture on 10.77.0.1 shows which way they are lost. "
            "`flowcheck firewall") in finding.fix


def _record(orig_ttl: int | None, resp_ttl: int | None, port: int = 5001) -> Connection:
    return Connection(uid="C1", orig_h=M, orig_p=port, resp_h=A, resp_p=10000, ts=0.0,
                      orig_ttl=orig_ttl, resp_ttl=resp_ttl)


@pytest.mark.parametrize("ttls, host", [
    ([(64, 63)], (M, 64, 63)),
    ([(125, 128)], (A, 128, 125)),  # Windows behind 3 routers
    ([(64, 255), (64, 255)], None),  # both initial: one segment
    ([(62, 120)], None),  # both lowered: a capture point between
    ([(64, None)], None),  # one side never sent
    ([(64, 63), (64, 62)], None),  # a route that changed
])
def test_capture_host(ttls: list[tuple[int | None, int | None]],
                      host: tuple[str, int, int] | None) -> None:
    ctx = SimpleNamespace(connections=[_record(o, r, 5001 + i) for i, (o, r) in
                                       enumerate(ttls)], proofs=ProofCache())
    assert capture_host(ctx, M, A) == host  # type: ignore[arg-type]
    assert capture_host(ctx, A, M) == host  # type: ignore[arg-type]
