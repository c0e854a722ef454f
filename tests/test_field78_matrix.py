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


_IP = 16  # the Linux cooked (SLL) header's length: the IPv4 header after it


def _checksummed(frame: bytearray) -> bytes:
    """The SLL frame with its IPv4 header checksum made anew (20-byte header)."""
    frame[_IP + 10:_IP + 12] = b"\0\0"
    total = sum(struct.unpack(">10H", frame[_IP:_IP + 20]))
    total = (total & 0xFFFF) + (total >> 16)
    frame[_IP + 10:_IP + 12] = struct.pack(">H", ~total & 0xFFFF)
    return bytes(frame)


def _forged_before(record: Record, micros: int) -> Record:
    """The Linux cooked (SLL) frame of `record`, an IPv4 packet, with TTL 64 and its own
    IP ID, `micros` microseconds earlier: a RST another sender made in the same host's
    name."""
    frame = bytearray(record.data)
    frame[_IP + 8] = 64
    frame[_IP + 4:_IP + 6] = b"\x12\x34"
    return replace(record, micros=record.micros - micros, data=_checksummed(frame))


def _as_rst(record: Record, micros: int, seq: int) -> Record:
    """The SLL frame of `record`, a TCP segment with data (IPv4 header of 20 bytes), made
    a RST+ACK of sequence number `seq`, without its payload and with its own IP ID, at
    `micros` (µs since the epoch): the sender's RST at the same capture point and TTL."""
    frame = bytearray(record.data)
    tcp = _IP + 20
    header = (frame[tcp + 12] >> 4) * 4
    payload = len(frame) - tcp - header
    frame = frame[:tcp + header]
    struct.pack_into(">HH", frame, _IP + 2, 20 + header, 0xF5C2)  # length, IP ID
    struct.pack_into(">I", frame, tcp + 4, seq)
    frame[tcp + 13] = 0x14  # RST, ACK
    return Record(micros, record.wirelen - payload, _checksummed(frame))


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


def test_both_ends_resets_seen_crossing_are_each_its_own(tmp_path: Path) -> None:
    """review64k: run 0 with the media server's RST too (seq 437191019, after its last
    data), leaving it at TTL 64 and arriving at the agent's point at 63, 1 ms after the
    agent's (frames 18414, 18415): both ends' RSTs crossed. The words read "it left
    10.77.0.1 and 10.77.1.2 itself" and "the RST left the media server 10.77.0.1 and the
    agent 10.77.1.2 itself (the capture set holds it at both ...)": one RST leaving two
    hosts (reset_crossed.crossed_words, cut_transfer._crossed_fix)."""
    linktype, records = stored_records(KILLED)
    leaving, arriving = records[18407], records[18408]  # frames 18408, 18409: its data
    assert (leaving.data[_IP + 8], arriving.data[_IP + 8]) == (64, 63)
    at = records[18412].micros + 1000
    rsts = [_as_rst(leaving, at, 437191019), _as_rst(arriving, at + 8, 437191019)]
    both = write_records(tmp_path / "both.pcap", linktype,
                         [*records[:18413], *rsts, *records[18413:]])
    analysis = stored_analysis(both, config_path=sidecar(KILLED))
    [finding] = [f for f in analysis.findings if f.code == "data_reset"]
    assert finding.frames == [18412, 18414]
    assert ("the media server 10.77.0.1's RST (frame 18414) is in it at both, first with "
            "10.77.0.1's initial TTL 64; the agent 10.77.1.2's RST (frame 18412) is in it "
            "at both, first with 10.77.1.2's initial TTL 64: each left its host itself and "
            "crossed to the other point, as a host's own RST does; no device between the "
            "capture points sent them)") in finding.message
    assert "itself (the capture set holds it" not in finding.fix
    assert ("each RST left its host itself (the capture set holds each at both capture "
            "points), so no device between the capture points sent them") in finding.fix
