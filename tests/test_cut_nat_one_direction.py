"""A media server behind a NAT captured on one direction: the agent's packets, its
callback among them, missing (flowcheck.verify.nat_unread)."""

from __future__ import annotations

import socket
from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "lab-trial26-nat"
NAT_ADDRESS = socket.inet_aton("10.88.0.254")


def test_media_ports_of_a_nat_seen_one_way_are_not_judged(tmp_path: Path) -> None:
    """nat-snat-ports-at-A (a router masquerades the media server 10.77.0.1 to
    10.88.0.254, ports 40000-40100; captured on the agent), cut to the packets from
    10.88.0.254: the callback to 10.77.0.1, which shows the NAT in the whole capture,
    travels the missing direction. Every media port at 10.88.0.254 is outside the
    range, its own or the NAT's: it read `port_outside_media_range` twice (FAIL)."""
    linktype, records = read_records(FOLDER / "nat-snat-ports-at-A.pcap.gz")
    kept = [r for r in records if r.data[26:30] == NAT_ADDRESS]  # Ethernet, IPv4 source
    assert 0 < len(kept) < len(records)
    capture = write_records(tmp_path / "from-nat.pcap", linktype, kept)
    analysis = stored_analysis(capture, config_path=FOLDER / "nat-snat-ports-at-A.toml")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    # Step 3 ok: the DATA_LISTEN replies travel the missing direction, the data that
    # flowed shows they reached the media server, the address announced unchecked
    # (verify.lost_announcement, new-user trial 54).
    assert [s.status for s in session.steps] == ["ok", "unknown", "ok", "unknown", "ok"]
    detail = " ".join(session.steps[3].detail.split())
    assert "media port 40055 outside 5001-5100 (media range) at 10.88.0.254: not judged, " \
        "its own port or a NAT's" in detail
    assert not any(f.code == "control_port_outside_media_range" for f in analysis.findings)
