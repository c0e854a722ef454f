"""Field check 78's lab matrix (captures/field78-matrix, README.md there), seed 141.

Run 17: a dual-stack Backup Exec backup (control over IPv6, data to the agent's IPv4
address announced); the agent's stateless output chain dropped its data connections'
SYN-ACKs; captured on the media server with `tcpdump -i any -y LINUX_SLL2`: each data
connection's 4 SYNs leaving, no SYN-ACK. data_unanswered said rightly that the SYNs or
the SYN-ACKs are dropped, then its dual-stack words narrowed it to "a firewall on the
agent or on the way drops IPv4 to it", a direction the capture does not show (the
SYN-ACKs were the ones dropped) (flowcheck.verify.announced_kind.other_nic_words).

Run 0: a dual-stack restore over a router, the agent's process killed mid-transfer, both
hosts' `tcpdump -i any` (Linux cooked) merged into one file: the agent's RST leaves it
(frame 18412, outgoing, TTL 64) and arrives at the media server (18413, TTL 63).
data_reset's fix said "if neither host reset it, look for a firewall or IPS between":
the capture shows the agent reset it (flowcheck.verify.reset_crossed.crossed_sides).
review64k: a RST in the agent's name at the media server's point only, before the
agent's own that crossed, was cited as the one seen at both points.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

from pcap_records import Record, stored_records, write_records
from stored import shared_analysis, sidecar, stored_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field78-matrix"
SYNACKS = HERE / "dual-data-synacks-dropped-by-agent-output-media-sll2-loss.pcap.gz"
KILLED = HERE / "dual-restore-agent-killed-routed-both-sll.pcap.gz"


def test_unanswered_ipv4_data_beside_ipv6_control_names_no_direction() -> None:
    """Each of the 5 data connections: 4 SYNs leaving 10.77.0.1 (frames 25, 27, 28, 30
    for the first), no SYN-ACK; the words name both ways, as the finding's own cause
    does, never the inbound one alone."""
    analysis = shared_analysis(SYNACKS)
    assert analysis.verdict == "fail"
    found = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert len(found) == 5
    assert found[0].frames == [25, 27, 28, 30]
    for finding in found:
        assert ("something drops its SYNs on the way to 10.77.0.2, or the SYN-ACKs on the "
                "way back") in finding.message
        assert ("so the address is reachable: a firewall on the agent or on the way drops "
                "these IPv4 connections, their SYNs or the SYN-ACKs on the way back (rules "
                "for the IPv6 addresses alone do not let them through).") in finding.message
        assert "drops IPv4 to it" not in finding.message


def test_a_reset_seen_leaving_the_agent_sends_no_one_to_a_device() -> None:
    """Frame 18412 (the agent's RST, TTL 64, outgoing) and 18413 (its copy at the media
    server's point, TTL 63): the host reset it; no firewall or IPS branch in the fix."""
    analysis = shared_analysis(KILLED)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.code == "data_reset"]
    assert finding.frames == [18412]
    assert "was reset by the agent 10.77.1.2 (RST, frame 18412; " in finding.message
    assert ("the agent 10.77.1.2's RST (frame 18412) is in it at both, first with "
            "10.77.1.2's initial TTL 64: it left 10.77.1.2 itself and crossed to the other "
            "point, as a host's own RST does; no device between the capture points sent "
            "it)") in finding.message
    assert "firewall or IPS between" not in finding.fix
    assert finding.fix.startswith("See the job log and the agent 10.77.1.2's NDMP service "
                                  "and system logs at that time for why it reset the "
                                  "transfer: the RST left the agent 10.77.1.2 itself")


def _forged_before(record: Record, micros: int) -> Record:
    """The Linux cooked (SLL) frame of `record`, an IPv4 packet, with TTL 64 and its own
    IP ID (its header checksum made anew), `micros` microseconds earlier: a RST another
    sender made in the same host's name."""
    frame = bytearray(record.data)
    ip = 16  # the SLL header
    frame[ip + 8] = 64
    frame[ip + 4:ip + 6] = b"\x12\x34"
    frame[ip + 10:ip + 12] = b"\0\0"
    words = struct.unpack(">10H", frame[ip:ip + 20])
    total = sum(words)
    total = (total & 0xFFFF) + (total >> 16)
    frame[ip + 10:ip + 12] = struct.pack(">H", ~total & 0xFFFF)
    return replace(record, micros=record.micros - micros, data=bytes(frame))


def test_a_first_reset_at_one_point_only_is_not_read_as_crossing(tmp_path: Path) -> None:
    """review64k: run 0 with a RST in the agent's name (TTL 64, its own IP ID) put at the
    media server's point only, 0.8 ms before the agent's own RST (now frames 18413 and
    18414): frame 18412, the first RST in the agent's name, never crossed; the agent's
    own later one did (SideEvidence.rst_twice). It read "the agent's RST (frame 18412) is
    in it at both, first with 10.77.1.2's initial TTL 64: it left 10.77.1.2 itself" and
    sent no one to a device (reset_crossed.crossed_sides read rst_twice of any RST)."""
    linktype, records = stored_records(KILLED)
    assert linktype == 113  # Linux cooked
    own, copy = records[18411], records[18412]  # frames 18412, 18413 of the stored case
    assert copy.data[16 + 8] == 63 and own.data[16 + 8] == 64
    forged = write_records(tmp_path / "forged.pcap", linktype,
                           [*records[:18411], _forged_before(copy, 800), *records[18411:]])
    analysis = stored_analysis(forged, config_path=sidecar(KILLED))
    [finding] = [f for f in analysis.findings if f.code == "data_reset"]
    assert finding.frames == [18412, 18413]  # the RST in its name, the agent's own
    assert "it left 10.77.1.2 itself" not in finding.message
    assert "no device between the capture points sent it" not in finding.message
    assert "firewall or IPS between 10.77.0.1 and 10.77.1.2" in finding.fix
