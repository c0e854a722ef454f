"""Second read of field check 57 (review 52a): captures built on bytes that the five
fixes' rules would misread, beside their stored cases (captures/field57-matrix).

Run 12's rule (flowcheck.verify.own_reject.rejects_marked: SYNs marked arriving at the
capture host, the reject from the responder's address marked sent by it) met by a DNAT
router's own `tcpdump -i any`: the media server's SYNs to the router's public address,
10.77.0.2, arrive addressed to it; the router forwards them to the agent inside
(10.78.0.2: another 4-tuple), the agent's reject comes back, and the router's conntrack
sends it on from 10.77.0.2, its quote translated back, marked leaving one TTL lower. The
router's firewall did not reject anything: the reject's TTL tells a forwarded one from
the capture host's own, sent at an initial TTL. The agent's own capture with its reject
leaving by another interface than the SYNs came in on stays placed.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from capture_factory import write_pcap

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

HERE = Path(__file__).resolve().parents[1] / "captures" / "field57-matrix"
REJECTED_TOML = HERE / "ndmjob-control-rejected-net-unreachable-by-agent-any-on-agent-sll2.toml"
LINUX_SLL2 = 276
PACKET_HOST, PACKET_OUTGOING = 0, 4
MEDIA, PUBLIC, INSIDE = "10.77.0.1", "10.77.0.2", "10.78.0.2"


def _sll2(ip: bytes, packet_type: int, ifindex: int) -> bytes:
    """A Linux cooked v2 frame (tcpdump -i any -y LINUX_SLL2) around IPv4 bytes."""
    return struct.pack(">HHIHBB8s", 0x0800, 0, ifindex, 1, packet_type, 6,
                       b"\x02\x00\x00\x00\x00\x07\x00\x00") + ip


def _syn(dst: str, ttl: int, ip_id: int) -> bytes:
    from scapy.layers.inet import IP, TCP

    return bytes(IP(src=MEDIA, dst=dst, ttl=ttl, id=ip_id, flags="DF")
                 / TCP(sport=5017, dport=10000, flags="S", seq=1000, window=64240))


def _reject(src: str, quoted: bytes, ttl: int) -> bytes:
    """An ICMP network unreachable (type 3 code 0) from src to the media server, quoting
    the IP header and the first 8 TCP bytes of `quoted`, as Linux sends it (and more)."""
    from scapy.layers.inet import ICMP, IP

    return bytes(IP(src=src, dst=MEDIA, ttl=ttl, id=0) / ICMP(type=3, code=0) / quoted[:48])


def _refused(tmp_path: Path, name: str, records: list[tuple[float, bytes]]) -> Finding:
    path = write_pcap(tmp_path / name, records, LINUX_SLL2)
    config = build_config(load_file(REJECTED_TOML))
    analysis = analyze(read_traffic([str(path)], config), config)
    [refused] = [f for f in analysis.findings if f.code == "control_refused"
                 and f"port {PUBLIC}:10000 refused" in f.message]
    return refused


def _router_records() -> list[tuple[float, bytes]]:
    """A DNAT router's -i any: per attempt, the SYN arriving (wan, ifindex 2), its
    translation leaving (lan, ifindex 3, TTL 63), the agent's reject arriving and the
    router's translation of it leaving at TTL 63."""
    records = []
    for attempt, start in enumerate((1.0, 2.01)):
        ip_id = 0x4000 + attempt
        public_syn = _syn(PUBLIC, 64, ip_id)
        inside_syn = _syn(INSIDE, 63, ip_id)
        records += [(start, _sll2(public_syn, PACKET_HOST, 2)),
                    (start + 0.00003, _sll2(inside_syn, PACKET_OUTGOING, 3)),
                    (start + 0.0002, _sll2(_reject(INSIDE, inside_syn, 64), PACKET_HOST, 3)),
                    (start + 0.00022, _sll2(_reject(PUBLIC, public_syn[:8] + bytes([63])
                                                    + public_syn[9:], 63),
                                            PACKET_OUTGOING, 2))]
    return records


def test_a_dnat_routers_capture_of_the_reject_it_forwards_is_not_its_own(
        tmp_path: Path) -> None:
    """The reject from 10.77.0.2 leaves the capture host at TTL 63: forwarded (the
    router's translation of the inside agent's), not sent by it, so the words keep the
    either-or and no firewall on 10.77.0.2 is named alone."""
    refused = _refused(tmp_path, "dnat-router.pcap", _router_records())
    assert "this capture was taken on 10.77.0.2" not in refused.message
    assert "a firewall on 10.77.0.2 rejects it" not in refused.message
    assert "the reject rule is in 10.77.0.2's firewall, so" not in refused.fix
    assert "nothing in the capture tells them apart" in refused.message


def test_the_agents_reject_leaving_by_another_interface_stays_its_own(tmp_path: Path) -> None:
    """The agent's own capture, its SYNs in on one interface and its rejects (TTL 64)
    out by another (a route back by another link), and a SYN of its own to another host
    (which shows the capture host sends 10.77.0.2's TCP: own_reject.rejects_marked,
    review 53d): still the agent's firewall."""
    from scapy.layers.inet import IP, TCP

    records = []
    for attempt, start in enumerate((1.0, 2.01)):
        syn = _syn(PUBLIC, 64, 0x4000 + attempt)
        records += [(start, _sll2(syn, PACKET_HOST, 2)),
                    (start + 0.0002, _sll2(_reject(PUBLIC, syn, 64), PACKET_OUTGOING, 5))]
    own = bytes(IP(src=PUBLIC, dst="10.77.0.9", ttl=64, id=9, flags="DF")
                / TCP(sport=40000, dport=22, flags="S", seq=5, window=64240))
    records.append((2.5, _sll2(own, PACKET_OUTGOING, 5)))
    refused = _refused(tmp_path, "agent-two-links.pcap", records)
    assert "a firewall on 10.77.0.2 rejects it (" in refused.message
    assert "this capture was taken on 10.77.0.2 (its Linux cooked headers mark each SYN" \
        in refused.message



APART_TOML = HERE / "ndmjob-data-syns-dropped-by-media-both-hosts-merged-pcapng-snap128.toml"
ETHER = 1


def _segment(ip_id: int, seq: int, flags: str, payload: bytes = b"") -> bytes:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    return bytes(Ether(src="02:00:00:00:00:05", dst="02:00:00:00:00:06")
                 / IP(src="10.77.0.5", dst="10.77.0.6", ttl=64, id=ip_id, flags="DF")
                 / TCP(sport=40000, dport=8080, flags=flags, seq=seq, ack=1, window=502)
                 / payload)


def test_copies_past_the_sample_are_not_counted_as_told_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 packets, each on interface 0 then 50 us later on interface 1 (two capture
    points merged keeping both), 2 more 3 ms later, read in 16 KiB and 16 MiB chunks: 302
    copies, of which the near ones' interfaces are read until near_copies.NEAR_SAMPLE (set
    to 256 here) are, the first in capture order whatever the chunk (orderfix: a chunk's
    at a time before, so 16 MiB read all). The words say how many were read and that not
    all were: not "N of them were told" of 302, which reads as the rest told otherwise."""
    from capture_factory import write_pcapng

    from flowcheck.connections import near_copies, track_connections

    NEAR_SAMPLE = 256
    monkeypatch.setattr(near_copies, "NEAR_SAMPLE", NEAR_SAMPLE)

    packets: list[tuple[int, float, bytes]] = []
    for n in range(302):
        frame = _segment(0x100 + n, 1000 + 100 * n, "PA", bytes(100))
        ts = 1.0 + 0.01 * n
        late = n >= 300
        packets += [(0, ts, frame), (1, round(ts + (0.003 if late else 0.00005), 6), frame)]
    path = write_pcapng(tmp_path / "two-points-302.pcapng", [ETHER, ETHER],
                        sorted(packets, key=lambda p: p[1]))
    found = track_connections([str(path)], chunk_size=1 << 14).findings
    [copies] = [f for f in found if f.code == "capture_duplicates"]
    whole = track_connections([str(path)], chunk_size=1 << 24).findings
    assert [f.message for f in whole if f.code == "capture_duplicates"] == [copies.message]
    assert copies.message.startswith("302 of the 604 TCP packets compared are copies")
    read = re.search(r"Of the (\d+) of them whose interfaces were read \(not every copy's "
                     r"is\), all were told by where they were captured: another of the "
                     r"file's interfaces, each with its original's TTL, (\d+) within 0\.5 "
                     r"ms of it and 2 later", copies.message)
    assert read is not None, copies.message
    # The sample is the first NEAR_SAMPLE in capture order, whatever the batches (it read
    # the whole batch that reached it before orderfix).
    assert int(read[2]) == NEAR_SAMPLE and int(read[1]) == int(read[2]) + 2
    assert "All of them were told" not in copies.message
    assert not re.search(r"\. \d+ of them were told", copies.message)


DUAL = HERE / "dual-stack-callback-syns-dropped-by-media-any-on-agent-sll2.pcap.gz"
DUAL_TOML = DUAL.with_name(DUAL.name[:-len(".pcap.gz")] + ".toml")
ARPHRD_LOOPBACK = 772


def _loopback(ip: bytes, packet_type: int) -> bytes:
    """An SLL2 frame on lo (ifindex 1), as tcpdump -i any writes a host's own traffic to
    itself: each packet once leaving (outgoing), once arriving (host)."""
    return struct.pack(">HHIHBB8s", 0x0800, 0, 1, ARPHRD_LOOPBACK, packet_type, 6,
                       bytes(8)) + ip


def _local_exchange(src: str, dst: str, at: float) -> list[tuple[float, bytes]]:
    """A short TCP exchange of the host with itself (SYN, SYN-ACK, ACK, FIN, FIN, ACK),
    each packet on lo twice."""
    from scapy.layers.inet import IP, TCP

    steps = [(src, dst, 41000, 6379, "S", 7, 0), (dst, src, 6379, 41000, "SA", 90, 8),
             (src, dst, 41000, 6379, "A", 8, 91), (src, dst, 41000, 6379, "FA", 8, 91),
             (dst, src, 6379, 41000, "FA", 91, 9), (src, dst, 41000, 6379, "A", 9, 92)]
    records = []
    for n, (a, b, sport, dport, flags, seq, ack) in enumerate(steps):
        ip = bytes(IP(src=a, dst=b, ttl=64, id=0x200 + n)
                   / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack))
        records += [(at + 0.0001 * n, _loopback(ip, PACKET_OUTGOING)),
                    (at + 0.0001 * n + 0.000002, _loopback(ip, PACKET_HOST))]
    return records


def test_the_agents_own_loopback_traffic_keeps_it_one_hosts_capture(tmp_path: Path) -> None:
    """Run 10's capture on the dual-stack agent with the agent's own traffic to itself
    added (127.0.0.1 and its own 10.77.0.2 to itself, on lo): each such packet is marked
    leaving and arriving, as a router's forwarding is, but it never left the host. The
    file is still one host's capture and the IPv4 callback SYNs the agent's own."""
    from pcap_records import stored_records

    kind, stored = stored_records(DUAL)
    assert kind == LINUX_SLL2
    records = [(float(f"{r.micros // 10**6}.{r.micros % 10**6:06d}"), r.data) for r in stored]
    start = records[0][0]
    records += _local_exchange("127.0.0.1", "127.0.0.1", start + 0.5)
    records += _local_exchange("10.77.0.2", "10.77.0.2", start + 0.7)
    path = write_pcap(tmp_path / "run10-with-lo.pcap", sorted(records, key=lambda r: r[0]),
                      LINUX_SLL2)
    config = build_config(load_file(DUAL_TOML))
    analysis = analyze(read_traffic([str(path)], config), config)
    [unanswered] = [f for f in analysis.findings if f.code == "callback_unanswered"]
    assert "unless it was taken on 10.77.0.1 itself" not in unanswered.message
    assert ("10.77.0.1 sent nothing to 10.77.0.2, but the capture host is fd77::2"
            in unanswered.message)


def test_one_hosts_capture_is_found_once_per_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run 10's capture on the dual-stack agent as stored: its readings that say where
    the capture was taken ask, for the IPv4 callback pair that the peer never answered,
    whether the file is one host's capture (cooked_host.one_host, which walks every
    marked pair): it is found once per analysis (Context.proofs.one_host), not once per
    reading and pair. The words as before."""
    from flowcheck.verify import cooked_host

    calls: list[int] = []  # each call's marked pairs
    real = cooked_host.one_host

    def counted(marks: dict) -> tuple[str, str] | None:
        calls.append(len(marks))
        return real(marks)

    monkeypatch.setattr(cooked_host, "one_host", counted)
    config = build_config(load_file(DUAL_TOML))
    analysis = analyze(read_traffic([str(DUAL)], config), config)
    [unanswered] = [f for f in analysis.findings if f.code == "callback_unanswered"]
    assert ("10.77.0.1 sent nothing to 10.77.0.2, but the capture host is fd77::2"
            in unanswered.message)
    assert len(calls) == 1, calls
