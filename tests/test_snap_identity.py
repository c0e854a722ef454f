"""A packet without an IPv4 ID (IPv6; IPv4 ID 0) seen at two capture points, one of
which cut its TCP options by its snap length (tcpdump -s 64/80/96: headers only) and the
other holding them whole: one packet, not two (packet_identity.header_identities,
copies._options_cut_pairs). Review of branch idzero: every copied data segment counted
as a retransmission."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from flowcheck.connections import track_connections

pytest.importorskip("scapy.layers.inet")
from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

START = 1_700_000_000.0
SEGMENTS, SIZE = 40, 100  # data segments sent, payload bytes each
RESENT = 17  # the segment sent again after a retransmission timeout
HOP = 0.001  # seconds from point A to point B


def write_pcap(path: Path, records: list[tuple[float, bytes]], snap: int) -> str:
    """A classic pcap (Ethernet) of the records (time, frame) cut at `snap` bytes."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snap, 1))
        for ts, raw in records:
            cut = raw[:snap]
            sec = int(ts)
            f.write(struct.pack("<IIII", sec, round((ts - sec) * 1e6), len(cut), len(raw))
                    + cut)
    return str(path)


def transfer(folder: Path, v6: bool, snap: int) -> list[str]:
    """One connection sending SEGMENTS data segments (timestamps on, every tenth ACK
    with a SACK block), RESENT sent again 0.25 s later; point A captures it whole
    (TTL 64), point B HOP later (TTL 63) at `snap` bytes."""
    hosts = ("2001:db8::1", "2001:db8::2") if v6 else ("10.0.0.1", "10.0.0.2")
    sent: list[tuple[float, object]] = []
    now, tsval = START, 100

    def packet(outbound: bool, flags: str, seq: int, ack: int, options: list,
               data: int = 0) -> None:
        src, dst = hosts if outbound else hosts[::-1]
        sport, dport = (40000, 5001) if outbound else (5001, 40000)
        segment = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=500,
                      options=options) / (b"d" * data)
        sent.append((now, lambda ttl: bytes(
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / (IPv6(src=src, dst=dst, hlim=ttl) if v6
               else IP(src=src, dst=dst, ttl=ttl, id=0, flags="DF")) / segment)))

    packet(True, "S", 1000, 0, [("MSS", 1440), ("SAckOK", b""), ("Timestamp", (tsval, 0))])
    now += 0.0003
    packet(False, "SA", 50000, 1001, [("MSS", 1440), ("SAckOK", b""),
                                      ("Timestamp", (9000, tsval))])
    now += 0.0003
    packet(True, "A", 1001, 50001, [("NOP", None), ("NOP", None),
                                    ("Timestamp", (tsval, 9000))])
    for k in range(SEGMENTS):
        now += 0.002
        tsval += 1
        seq = 1001 + SIZE * k
        packet(True, "PA", seq, 50001, [("NOP", None), ("NOP", None),
                                        ("Timestamp", (tsval, 9000))], SIZE)
        now += 0.0005
        sack = [("NOP", None), ("NOP", None), ("SAck", (seq, seq + SIZE))] if k % 10 == 5 \
            else []
        packet(False, "A", 50001, seq + SIZE - (SIZE if sack else 0),
               [("NOP", None), ("NOP", None), ("Timestamp", (9000 + k, tsval)), *sack])
    now += 0.25
    tsval += 250
    packet(True, "PA", 1001 + SIZE * RESENT, 50001,
           [("NOP", None), ("NOP", None), ("Timestamp", (tsval, 9000))], SIZE)
    family = "v6" if v6 else "v4"
    return [write_pcap(folder / f"a.{family}.pcap", [(t, f(64)) for t, f in sent], 65535),
            write_pcap(folder / f"b.{family}.{snap}.pcap",
                       [(t + HOP, f(63)) for t, f in sent], snap)]


@pytest.mark.parametrize(("v6", "snap"), [(True, 80), (True, 96), (False, 64)])
def test_a_copy_with_its_options_cut_at_one_point_counts_once(
        tmp_path: Path, v6: bool, snap: int) -> None:
    result = track_connections(transfer(tmp_path, v6, snap))
    [connection] = result.connections
    assert connection.retransmits == 1  # the resend only, its copy at B not a second
    assert connection.syn_retries == 0
    assert connection.orig_bytes - connection.orig_copy_bytes == (SEGMENTS + 1) * SIZE
    # Every packet at B is a copy of A's: the SACK ACKs (cut at 96 bytes) too.
    per_point = 3 + 2 * SEGMENTS + 1
    [copies] = [f for f in result.findings if f.code == "capture_duplicates"]
    assert copies.message.startswith(
        f"{per_point} of the {2 * per_point} TCP packets compared are copies ")
