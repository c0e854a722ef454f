"""Linux cooked marks read of a set of files (review58b, second read of field64).

The marks (flowcheck.connections.cooked_hosts) are kept per host pair for the whole
capture set, and only of SYNs, FINs and RSTs: in a set of several files, what one file's
marks prove of its capture host says nothing of which file holds an ACK, nor of another
file's direction filter. Two of field64's readings took them as the file's:

- ack_unheard.listener_capture: field64-matrix's ACK case split into the agent's
  `-i any` file without the media server's ACKs (nor its FINs) and the media server's
  own file holding only those ACKs, marked leaving it (a capture filtered to packets
  without SYN or FIN, or one rotation of it): the ACKs never reached fd77::2's capture,
  yet the words said they "arrived there, past every device between the hosts".
- cooked_host.leaving_taken: field56-matrix's SYNs-only capture on the agent given with
  another host's file of one SYN leaving it, between two other hosts: the words dropped
  their `tcpdump -Q in` hedge for "It holds packets marked leaving the capture host too".

Both now read the marks so only of one file of one interface (Context.order.frames).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

from pcap_records import Record, read_records, write_records
from stored import sidecar, stored_analysis

ROOT = Path(__file__).resolve().parents[1] / "captures"
ACK_IN = ROOT / "field64-matrix" / "dual-control-ack-dropped-by-agent-any-on-agent-sll2.pcap.gz"
SYNS_ONLY = (ROOT / "field56-matrix"
             / "ndmjob-control-syns-dropped-by-agent-any-on-agent-sll.pcap.gz")
_SLL2, _SLL = 276, 113
_OUTGOING = 4  # PACKET_OUTGOING (linux/if_packet.h)


def _ipv6_tcp(data: bytes) -> tuple[bytes, bytes, int] | None:
    """(source, destination, TCP flags) of an SLL2 frame carrying IPv6 TCP, else None."""
    if data[:2] != b"\x86\xdd" or data[20 + 6] != 6:
        return None
    return data[28:44], data[44:60], data[60 + 13]


def _split_ack_case(tmp_path: Path) -> tuple[Path, Path]:
    """ACK_IN as the agent's file without fd77::1's packets after its SYN, and the media
    server's file of fd77::1's ACKs alone (no SYN nor FIN: they would mark the pair
    leaving and arriving, proving no host), marked leaving its capture host."""
    linktype, records = read_records(ACK_IN)
    assert linktype == _SLL2
    agent: list[Record] = []
    media: list[Record] = []
    for record in records:
        tcp = _ipv6_tcp(record.data)
        if tcp is None or tcp[0][-1:] != b"\x01" or tcp[1][-1:] != b"\x02" \
                or tcp[2] & 0x02:  # not fd77::1's to fd77::2 after its SYN
            agent.append(record)
        elif not tcp[2] & 0x01:  # its ACKs, leaving the media server
            data = record.data[:10] + bytes([_OUTGOING]) + record.data[11:]
            media.append(replace(record, data=data))
    assert len(media) == 5
    return (write_records(tmp_path / "agent.pcap", linktype, agent),
            write_records(tmp_path / "media.pcap", linktype, media))


def test_an_ack_in_another_file_is_not_placed_on_the_listener(tmp_path: Path) -> None:
    agent, media = _split_ack_case(tmp_path)
    analysis = stored_analysis(agent, media, config_path=sidecar(ACK_IN))
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    assert "this capture was taken on fd77::2" not in finding.message
    assert "arrived there, past every device" not in finding.message
    assert ("fd77::1's packets after its SYN are dropped on their way to fd77::2 (after "
            "the capture point, or by fd77::2's own firewall" in finding.message)
    assert "on any firewall between the hosts" in finding.fix


def _other_hosts_syn(tmp_path: Path) -> Path:
    """One SLL file of another capture host: SYNS_ONLY's first SYN, readdressed
    10.9.9.1 -> 10.9.9.2 and marked leaving its capture host."""
    linktype, records = read_records(SYNS_ONLY)
    assert linktype == _SLL
    syn = next(r for r in records if r.data[14:16] == b"\x08\x00"
               and r.data[16 + 9] == 6 and r.data[16 + 33] == 0x02)
    header = bytearray(syn.data[16:36])
    header[10:12] = b"\0\0"
    header[12:20] = bytes([10, 9, 9, 1, 10, 9, 9, 2])
    total = sum(struct.unpack(">10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    header[10:12] = struct.pack(">H", ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF)
    data = struct.pack(">H", _OUTGOING) + syn.data[2:16] + bytes(header) + syn.data[36:]
    return write_records(tmp_path / "other-host.pcap", linktype,
                         [replace(syn, data=data)])


def _arrived_words(*captures: Path) -> str:
    analysis = stored_analysis(*captures, config_path=sidecar(SYNS_ONLY))
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    assert "mark every SYN from 10.77.0.1 as arriving" in finding.fix
    return finding.fix


def test_another_files_leaving_packets_keep_the_q_in_hedge(tmp_path: Path) -> None:
    alone = _arrived_words(SYNS_ONLY)
    assert "Unless it left out what that host sent (tcpdump -Q in)" in alone
    merged = _arrived_words(SYNS_ONLY, _other_hosts_syn(tmp_path))
    assert "Unless it left out what that host sent (tcpdump -Q in)" in merged
    assert "It holds packets marked leaving the capture host too" not in merged
