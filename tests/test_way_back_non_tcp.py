"""An unanswered opening whose capture holds the responder's packets to the connector
that are not TCP (a ping reply, an ARP reply) holds that direction: "may hold one
direction only" is said only when nothing at all came back (task nontcpback, review 56b:
control-dropped.pcap with a real echo reply added read "The capture holds no packet at
all from 10.77.0.2 to 10.77.0.1, so it may hold one direction only").

The captures are captures/nontcpback's (their .toml says how each was made: real packets
from network namespaces, merged with mergecap)."""

from __future__ import annotations

import ipaddress
import struct
import subprocess
from pathlib import Path

import numpy as np
from scapy.all import IP, UDP, Ether, PcapReader, Raw, wrpcap

from flowcheck.config import build_config, load_file
from flowcheck.decode.other_ways import (
    ARP,
    IPPROTO_ICMP,
    KEY,
    MAX_WAYS,
    OtherWay,
    WayRows,
    Ways,
)
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

CASES = Path(__file__).resolve().parent.parent / "captures" / "nontcpback"
LAB = CASES.parent / "lab"
ONE_WAY = "so it may hold one direction only"


def _unanswered(capture: Path, config: Path) -> Finding:
    settings = build_config(load_file(config))
    analysis = analyze(read_traffic([str(capture)], settings), settings)
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    assert analysis.verdict == "fail"
    return finding


def test_an_echo_reply_back_holds_that_direction() -> None:
    """lab/control-dropped.pcap with a real echo request and reply merged in (frames
    1-2): the reply is 10.77.0.2's packet to 10.77.0.1, so the capture holds that
    direction and no answer to the SYNs came past it; the fix no longer asks for a
    capture of both directions."""
    name = "control-dropped-echo-reply"
    finding = _unanswered(CASES / f"{name}.pcap", CASES / f"{name}.toml")
    assert ONE_WAY not in finding.message
    assert "no packet at all" not in finding.message
    assert ("the capture holds no TCP packet from 10.77.0.2 to 10.77.0.1, but it holds an "
            "ICMP echo reply (frame 2) from 10.77.0.2 to 10.77.0.1, so it holds that "
            "direction: a SYN-ACK, RST or ICMP unreachable coming back to 10.77.0.1 past "
            "this capture point would be in it, and none is, unless the capture's filter "
            "kept that TCP out") in finding.message
    assert "This capture holds no packet from" not in finding.fix
    assert "If this capture was taken on 10.77.0.2, its own firewall drops" in finding.fix
    assert finding.frames == [3, 4, 5, 6]  # the SYNs


def test_an_arp_reply_back_counts_and_the_first_packet_is_named() -> None:
    """One real capture (ARP request and reply, echo request and reply, 4 SYNs to an
    agent whose input drops them): 10.77.0.2's two packets to 10.77.0.1, the first its
    ARP reply (frame 3)."""
    name = "control-dropped-arp-and-echo-reply"
    finding = _unanswered(CASES / f"{name}.pcap", CASES / f"{name}.toml")
    assert ONE_WAY not in finding.message
    assert ("it holds 2 packets that are not TCP, the first an ARP reply (frame 3) from "
            "10.77.0.2 to 10.77.0.1") in finding.message


def test_the_agents_neighbour_advertisement_is_its_way_back() -> None:
    """field48-matrix's agent captured `tcpdump -i any` on itself, its input chain
    dropping the control SYNs: its neighbour advertisement to the media server (frame 4)
    is that direction in the capture. It read "no packet at all from fd77::2 to
    fd77::1, though it holds one travelling toward fd77::1 (...'s neighbour solicitation
    ...)"; the fix keeps its Linux cooked reading of the SYNs' arrival."""
    case = Path(__file__).resolve().parent.parent / "captures" / "field48-matrix"
    name = "dual-stack-control-syns-dropped-by-agent"
    finding = _unanswered(case / f"{name}.pcap.gz", case / f"{name}.toml")
    assert ("it holds a neighbour advertisement (frame 4) from fd77::2 to fd77::1, so it "
            "holds that direction") in finding.message
    assert "travelling toward" not in finding.message
    assert ("This capture's Linux cooked headers mark every SYN from fd77::1 as arriving"
            in finding.fix)


def test_a_packet_the_other_way_is_no_proof(tmp_path: Path) -> None:
    """The echo request alone (10.77.0.1 to 10.77.0.2, what a capture of 10.77.0.1's
    outgoing packets holds), cut from the merged capture here as the stored
    control-dropped-echo-request-only.pcap was: still one direction only."""
    name = "control-dropped-echo-reply"
    cut = tmp_path / "request-only.pcap"
    subprocess.run(["editcap", "-r", str(CASES / f"{name}.pcap"), str(cut), "1", "3-6"],
                   check=True, capture_output=True)
    finding = _unanswered(cut, CASES / f"{name}.toml")
    assert ("The capture holds no packet at all from 10.77.0.2 to 10.77.0.1, "
            f"{ONE_WAY}") in finding.message
    assert "This capture holds no packet from 10.77.0.2 to 10.77.0.1" in finding.fix


def test_a_capture_that_left_out_one_hosts_tcp_is_not_one_direction() -> None:
    """lab/data-port-dropped without 10.77.0.2's TCP, its echo reply kept: the media
    server's ACKs prove the agent's TCP, which the capture lacks, but the echo reply
    shows that direction passed the capture point: a filter or another path, not a
    capture of one direction (capture_one_direction said "The capture saw one direction
    only"), in the data connection's words and fix too."""
    name = "data-port-dropped-agent-tcp-left-out-echo-reply"
    settings = build_config(load_file(CASES / f"{name}.toml"))
    analysis = analyze(read_traffic([str(CASES / f"{name}.pcap")], settings), settings)
    [one_way] = [f for f in analysis.findings if f.code == "capture_one_direction"]
    assert one_way.message.startswith("The capture holds no TCP packet from 10.77.0.2 to "
                                      "10.77.0.1, although 2 connection(s)")
    assert ("It holds an ICMP echo reply (frame 2) from 10.77.0.2 to 10.77.0.1, so that "
            "direction passed the capture point and only its TCP is missing") in one_way.message
    assert "one direction only" not in one_way.message
    assert one_way.fix.startswith("Capture 10.77.0.2's TCP to 10.77.0.1 too")
    [data] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert ("(the capture holds no TCP packet from 10.77.0.2 to 10.77.0.1 (only an ICMP echo "
            "reply, frame 2: its TCP left out by a filter or another path, not the "
            "direction), the way a SYN-ACK, RST or ICMP unreachable would travel)"
            ) in data.message
    assert ("This capture holds no TCP packet from 10.77.0.2 to 10.77.0.1, only an ICMP echo "
            "reply (frame 2), so not whether 10.77.0.2 answered") in data.fix


def test_an_unread_tunnels_packet_from_the_agent_is_no_way_back(tmp_path: Path) -> None:
    """An L2TP packet from 10.77.0.2 to 10.77.0.1 (built as tests/unread_captures.py
    builds them: no L2TP peer in the lab) amid lab/control-dropped's SYNs: flowcheck
    does not read L2TP, so an answer may be inside it; its outer packet is not the
    direction's proof (decode.other_ways leaves the encapsulations of decode.unread out)
    and capture_unread_encapsulation names it."""
    packets = list(PcapReader(str(LAB / "control-dropped.pcap")))
    carried = bytes(IP(src="10.77.0.2", dst="10.77.0.1") / UDP(sport=5353, dport=5353)
                    / Raw(b"y" * 20))
    l2tp = bytes([0x00, 0x02, 0, 1, 0, 1, 0xFF, 0x03, 0x00, 0x21]) + carried  # RFC 2661
    tunnel = (Ether(src="02:00:00:00:09:01", dst="02:00:00:00:09:02")
              / IP(src="10.77.0.2", dst="10.77.0.1") / UDP(sport=1701, dport=1701) / Raw(l2tp))
    tunnel.time = float(packets[1].time) + 0.1
    path = tmp_path / "control-dropped-l2tp.pcap"
    wrpcap(str(path), [*packets[:2], tunnel, *packets[2:]])
    finding = _unanswered(path, LAB / "control-dropped.toml")
    assert "holds that direction" not in finding.message
    assert ONE_WAY in finding.message


def test_ways_sum_a_pair_over_batches_and_name_its_earliest_packet() -> None:
    """Two batches' rows of one pair (the later batch holding the earlier packet, as two
    files of a set may): summed, the earlier first packet named; reduced past MAX_WAYS,
    the earliest pairs kept and the Ways says it is full (a missing pair may have
    packets)."""
    def rows(pairs: list[tuple[int, int]], frame: int, ts: float, proto: int) -> Ways:
        key = np.zeros((len(pairs), KEY), dtype=np.uint64)
        key[:, 0] = 4
        key[:, 1], key[:, 5] = [s for s, _ in pairs], [d for _, d in pairs]
        n = len(pairs)
        info = np.tile(np.array([[proto, 0, -1]], dtype=np.int64), (n, 1))
        return Ways([WayRows(key, np.ones(n, dtype=np.int64), np.arange(n) + frame,
                             np.arange(n) * 1e-3 + ts, info)], rows=n, reduced=False)

    b, a = int(ipaddress.IPv4Address("10.77.0.2")), int(ipaddress.IPv4Address("10.77.0.1"))
    ways = rows([(b, a)], 9, 9.0, IPPROTO_ICMP)
    ways.merge(rows([(b, a), (b, a)], 4, 4.0, ARP))
    assert ways.get("10.77.0.2", "10.77.0.1") == OtherWay(3, 4, 4.0, "an ARP reply")
    assert ways.get("10.77.0.2", "10.77.0.1").words() == (
        "3 packets that are not TCP, the first an ARP reply (frame 4)")
    assert ways.get("10.77.0.1", "10.77.0.2") is None
    assert OtherWay(1, 2, 0.0, "an ICMP echo reply").words() == "an ICMP echo reply (frame 2)"
    many = rows([(b, a + i) for i in range(MAX_WAYS + 5)], 100, 100.0, IPPROTO_ICMP)
    ways.merge(many)
    assert ways.get("10.77.0.2", "10.77.0.1") is not None  # the earliest, kept
    assert ways.full and ways.get("10.77.0.2", str(ipaddress.IPv4Address(a + MAX_WAYS))) is None


def test_a_filter_that_kept_the_agents_tcp_out_is_named() -> None:
    """Review 56k's lab (captures/review56k): the media server's own input chain drops
    the agent's SYN-ACKs, captured on the media server with the filter `tcp dst port
    10000 or icmp or arp` (a ping first: the agent's ARP and echo replies kept). The 8
    SYN-ACKs came past the capture point (the unfiltered capture beside it holds them),
    but the words said "so it holds that direction and the silence is not the
    capture's", the fix "a capture on 10.77.0.2 shows which way they are lost". Now the
    message names the filter that may have kept the agent's TCP out, and the fix asks
    for a capture that keeps it."""
    case = CASES.parent / "review56k"
    name = "control-synacks-dropped-by-media-tcp-filter"
    finding = _unanswered(case / f"{name}.pcap", case / f"{name}.toml")
    assert "the silence is not the capture's" not in finding.message
    assert ONE_WAY not in finding.message
    assert ("it holds 2 packets that are not TCP, the first an ARP reply (frame 2) from "
            "10.77.0.2 to 10.77.0.1, so it holds that direction") in finding.message
    assert ("unless the capture's filter kept that TCP out (one on port or protocol: "
            "`tcp dst port 10000 or icmp` keeps the SYNs and a ping's reply, never a "
            "SYN-ACK)") in finding.message
    assert ("If this capture was taken with a filter, take one that keeps 10.77.0.2's TCP "
            "too (`host 10.77.0.2`): it shows whether the SYN-ACKs came back to "
            "10.77.0.1") in finding.fix
    assert finding.frames == [5, 6, 7, 8, 9, 12, 13]  # the SYNs


def _noisy(path: Path, sources: int) -> None:
    """control-dropped-echo-reply.pcap's packets after one UDP datagram to 10.77.0.1 from
    each of `sources` addresses (172.16.0.0 on: a scan, a noisy segment), 0.1 ms apart,
    written as pcap records (no scapy per packet)."""
    real = list(PcapReader(str(CASES / "control-dropped-echo-reply.pcap")))
    start = float(real[0].time) - 10.0
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(sources):
        udp = struct.pack("!HHHH", 40000, 53, 12, 0) + b"nois"
        head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                           ((172 << 24) | (16 << 16) | i).to_bytes(4, "big"),
                           bytes([10, 77, 0, 1]))
        frame = bytes.fromhex("020000000001020000000099") + b"\x08\x00" + head + udp
        ts = start + i * 1e-4
        records.append(struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(frame),
                                   len(frame)) + frame)
    for packet in real:
        frame, ts = bytes(packet), float(packet.time)
        records.append(struct.pack("<IIII", int(ts), round((ts % 1) * 1e6) % 1_000_000,
                                   len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(records))


def test_an_answer_past_the_pairs_counted_is_not_said_missing(tmp_path: Path) -> None:
    """The count of the packets that are not TCP keeps the first MAX_WAYS host pairs:
    70,000 UDP sources before the echo reply from 10.77.0.2 (frame 70,002) leave its pair
    uncounted, and the words said "The capture holds no packet at all from 10.77.0.2 to
    10.77.0.1", which frame 70,002 disproves (review 56k). They now say the capture holds
    no TCP packet from it, nor any other among the pairs counted; below the cap the
    echo reply is named."""
    name = "control-dropped-echo-reply"
    path = tmp_path / "noisy.pcap"
    _noisy(path, MAX_WAYS + 4464)
    finding = _unanswered(path, CASES / f"{name}.toml")
    assert "no packet at all" not in finding.message
    assert ("The capture holds no TCP packet from 10.77.0.2 to 10.77.0.1, nor any other "
            "among the 65,536 host pairs whose packets that are not TCP were counted first "
            f"(later pairs' were not), {ONE_WAY}") in finding.message
    assert ("This capture holds no TCP packet from 10.77.0.2 to 10.77.0.1, nor any other "
            "among the 65,536 host pairs") in finding.fix
    _noisy(path, MAX_WAYS - 2)  # with the echo request's and reply's: MAX_WAYS pairs
    finding = _unanswered(path, CASES / f"{name}.toml")
    assert (f"but it holds an ICMP echo reply (frame {MAX_WAYS}) from 10.77.0.2 to "
            "10.77.0.1, so it holds that direction") in finding.message
