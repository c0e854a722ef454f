"""Whose firewall an ICMP reject from the refusing host's own address is (review 51b,
flowcheck.verify.own_reject): the host's own, or a bridge (transparent) firewall in
front of it, which builds its reject from the SYN with the SYN's destination's address
and MAC (Linux nf_reject in the bridge family, br_netfilter; a transparent or
virtual-wire firewall alike). Only a capture the Linux cooked marks place on the host
shows the reject leaving it.

On bytes: lab matrix seed 118 run 24 (`tcpdump -i any` on the media server, whose input
rejects the callback with ICMPv6 admin-prohibited) as it is, and the same packets with
their Linux cooked headers replaced by Ethernet ones: what a capture off the host holds,
byte for byte what a bridge firewall's reject in its name gives there. Before, both read
"a firewall on fd77::1 rejects it".

The reject's own IP TTL (hop limit, Connection.icmp_ttl) against the host's other
packets' (own_reject.forged_reject, session 51): the same packets and
ndmjob-firewall's IPv4 rejects with the host's TCP packets' TTL or the reject's
rewritten (a Windows host's 128 beside a bridge's 64; a host one router away beside an
undecremented reject). Before, those read "a firewall on HOST, or a bridge ...".
"""

from __future__ import annotations

import gzip
import ipaddress
import struct
from pathlib import Path

import pytest
from capture_factory import read_pcap, tcp_packet, write_pcap
from scapy.all import ICMP, IP, TCP, Ether
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.connections.icmp import FRAMES_PER_QUOTE
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

HERE = Path(__file__).resolve().parents[1] / "captures" / "field55-matrix"
REJECTED = HERE / "callback-rejected-admin-prohibited-by-media-any-on-media-ipv6.pcap.gz"
RUN24_TOML = REJECTED.with_name(REJECTED.name[:-len(".pcap.gz")] + ".toml")
FIREWALL = Path(__file__).resolve().parents[1] / "captures" / "ndmjob-firewall"
ADMIN_PROHIBITED = FIREWALL / "v4-media-reject-adminprohib"  # IPv4, Ethernet, 10.77.0.1's
CONTROL_REJECT = FIREWALL / "v3-control-reject-icmp"  # IPv4, Ethernet, the agent's
FIELD46 = Path(__file__).resolve().parents[1] / "captures" / "field46-matrix"
SLL2_HEADER = 20  # LINKTYPE_LINUX_SLL2's header; its first two bytes the EtherType
MEDIA_MAC, AGENT_MAC = b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02"
M = "fd77::1"


def _refused(analysis: Analysis) -> Finding:
    [refused] = [f for f in analysis.findings if f.code == "callback_refused"]
    return refused


def _run24() -> list[tuple[float, bytes]]:
    """Run 24's packets as captured (Linux cooked, LINKTYPE_LINUX_SLL2)."""
    data = gzip.decompress(REJECTED.read_bytes())
    assert struct.unpack_from("<I", data, 20)[0] == 276  # LINKTYPE_LINUX_SLL2
    packets, offset = [], 24
    while offset + 16 <= len(data):
        seconds, micros, caplen, _ = struct.unpack_from("<IIII", data, offset)
        packets.append((float(f"{seconds}.{micros:06d}"),
                        data[offset + 16:offset + 16 + caplen]))
        offset += 16 + caplen
    return packets


def _ethernet(packets: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """Run 24's packets with Ethernet headers instead of Linux cooked ones (the media
    server's frames from its MAC, the agent's to it)."""
    framed = []
    for ts, frame in packets:
        ethertype, ip = frame[:2], frame[SLL2_HEADER:]
        source = ip[8:24] if ethertype == b"\x86\xdd" else b""
        from_media = source == bytes.fromhex("fd770000000000000000000000000001")
        macs = AGENT_MAC + MEDIA_MAC if from_media else MEDIA_MAC + AGENT_MAC
        framed.append((ts, macs + ethertype + ip))
    return framed


def _analysed(path: Path, packets: list[tuple[float, bytes]], toml: Path,
              linktype: int = 1) -> Analysis:
    """packets written to path and analysed with toml's config."""
    write_pcap(path, packets, linktype)
    config = build_config(load_file(toml))
    return analyze(read_traffic([str(path)], config), config)


def _as_ethernet(tmp_path: Path) -> Analysis:
    """Run 24's packets with Ethernet headers, analysed with the run's config."""
    return _analysed(tmp_path / "run24-ethernet.pcap", _ethernet(_run24()), RUN24_TOML)


def _with_ttls(packets: list[tuple[float, bytes]], host: str, link: int, *,
               tcp: int | None = None, icmp: int | None = None
               ) -> list[tuple[float, bytes]]:
    """packets with host's IP TTL (IPv6 hop limit) set: its TCP packets' to tcp, its
    ICMP / ICMPv6 ones' to icmp (None: as they are); link: the link header's bytes. An
    IPv4 header's checksum is made again (IPv6 has none, and neither TCP's nor ICMPv6's
    pseudo-header holds the hop limit)."""
    address = ipaddress.ip_address(host).packed
    changed = []
    for ts, frame in packets:
        ip = bytearray(frame[link:])
        v4 = ip[0] >> 4 == 4
        source, proto = (ip[12:16], ip[9]) if v4 else (ip[8:24], ip[6])
        ttl = tcp if proto == 6 else icmp if proto in (1, 58) else None
        if bytes(source) == address and ttl is not None:
            ip[8 if v4 else 7] = ttl
            if v4:
                header = (ip[0] & 0x0F) * 4
                ip[10:12] = b"\0\0"
                total = sum(struct.unpack(f">{header // 2}H", bytes(ip[:header])))
                while total > 0xFFFF:
                    total = (total & 0xFFFF) + (total >> 16)
                ip[10:12] = struct.pack(">H", ~total & 0xFFFF)
        changed.append((ts, frame[:link] + bytes(ip)))
    return changed


def test_the_reject_a_capture_on_the_host_holds_leaving_it_is_its_own_firewalls() -> None:
    refused = _refused(shared_analysis(REJECTED))
    assert ("a firewall on fd77::1 rejects it (the reject comes from fd77::1's own address, "
            "as its own reject rule sends it; a router's filter answers from its own address "
            "unless it rejects in fd77::1's name (an nftables netdev ingress reject, a DNAT "
            "router's forward chain); this capture was taken on "
            "fd77::1 (its Linux cooked headers show it) and holds the reject leaving it"
            in refused.message), refused.message
    assert "or a bridge" not in refused.message
    assert "the reject rule is in fd77::1's firewall, so the allow rule must come before " \
        "it there" in refused.fix, refused.fix


def test_the_same_reject_off_the_host_may_be_a_bridge_firewalls(tmp_path: Path) -> None:
    analysis = _as_ethernet(tmp_path)
    refused = _refused(analysis)
    assert refused.frames == [21, 22, 26, 27]  # the same refusal, read the same way
    assert ("a firewall on fd77::1, or a bridge (transparent) firewall in front of fd77::1 "
            "answering in its name, rejects it (the reject comes from fd77::1's own "
            "address" in refused.message), refused.message
    assert ("sends its reject from fd77::1's address too, and nothing in the capture tells "
            "them apart" in refused.message), refused.message
    assert "this capture was taken on" not in refused.message
    assert ("the reject rule is in fd77::1's firewall or in a bridge (transparent) "
            "firewall in front of fd77::1 that answers in its name" in refused.fix), \
        refused.fix



def test_a_reject_at_another_ttl_than_the_windows_hosts_packets_is_a_device_between(
        tmp_path: Path) -> None:
    """The media server's packets at TTL 128 (Windows), the reject from its address at 64:
    a device between the hosts answered in its name (a bridge's reject at its own default
    TTL); the fix is that device's. Before: 'a firewall on 10.77.0.1, or a bridge
    (transparent) firewall in front of 10.77.0.1 answering in its name, rejects it'."""
    packets = _with_ttls(read_pcap(f"{ADMIN_PROHIBITED}.pcap"), "10.77.0.1", 14, tcp=128)
    analysis = _analysed(tmp_path / "windows.pcap", packets,
                         ADMIN_PROHIBITED.with_suffix(".toml"))
    [refused] = [f for f in analysis.findings if f.code == "data_refused"]
    assert ("the SYN to 10.77.0.1:5080 was answered with an ICMP unreachable "
            "\"communication administratively prohibited by filtering\" (code 13) from "
            "10.77.0.1's address that 10.77.0.1 did "
            "not send: its TTL 64, where 10.77.0.1's own packets arrive with 128"
            in refused.message), refused.message
    assert ("a device between the hosts rejects the connection in 10.77.0.1's name (a "
            "bridge (transparent) firewall in front of 10.77.0.1" in refused.message)
    assert "not a firewall on 10.77.0.1." in refused.message
    assert "nothing in the capture tells them apart" not in refused.message
    assert ("in the forward chain of the bridge (transparent) firewall, router or firewall "
            "between 10.77.0.2 and 10.77.0.1 that sent the reject in 10.77.0.1's name"
            in refused.fix), refused.fix
    assert "10.77.0.1's firewall" not in refused.fix


def test_an_undecremented_reject_where_the_hosts_packets_cross_a_router(
        tmp_path: Path) -> None:
    """Run 24 off the host, the media server's packets one router lower (hop limit 63),
    its reject at 64: sent on the capture's side of that router in fd77::1's name (a
    bridge firewall there), IPv6's words."""
    packets = _with_ttls(_ethernet(_run24()), M, 14, tcp=63)
    refused = _refused(_analysed(tmp_path / "routed.pcap", packets, RUN24_TOML))
    assert ("from fd77::1's address that fd77::1 did not send: its hop limit 64, where "
            "fd77::1's own packets arrive with 63" in refused.message), refused.message
    assert "TTL 64" not in refused.message and "or a bridge" not in refused.message
    assert "that sent the reject in fd77::1's name" in refused.fix, refused.fix


@pytest.mark.parametrize("icmp_ttl", [63, 255], ids=["farther", "higher-initial"])
def test_a_reject_whose_ttl_proves_nothing_keeps_the_hedge(tmp_path: Path,
                                                           icmp_ttl: int) -> None:
    """The reject one router farther (63) than the host's packets (64): those may be a
    nearer device's (a SYN proxy's), so its TTL proves nothing. The reject at hop limit
    255 beside the host's packets at 64: a stack that sends its ICMP at 255 and its TCP
    at 64 (Solaris and illumos, network operating systems) sends just that, so its TTL
    proves no device between. Either reads as a reject with the host's TTL."""
    packets = _with_ttls(_ethernet(_run24()), M, 14, icmp=icmp_ttl)
    refused = _refused(_analysed(tmp_path / f"icmp{icmp_ttl}.pcap", packets, RUN24_TOML))
    assert "did not send" not in refused.message, refused.message
    assert ("a firewall on fd77::1, or a bridge (transparent) firewall in front of fd77::1 "
            "answering in its name, rejects it" in refused.message), refused.message


def test_the_cooked_marks_keep_the_hosts_own_reject_whatever_its_ttl(tmp_path: Path) -> None:
    """On the host, its cooked marks show the reject leaving it: its own, even where its
    TCP packets' hop limit (128 here) is not the reject's (64)."""
    packets = _with_ttls(_run24(), M, SLL2_HEADER, tcp=128)
    refused = _refused(_analysed(tmp_path / "cooked.pcap", packets, RUN24_TOML, 276))
    assert "did not send" not in refused.message, refused.message
    assert "a firewall on fd77::1 rejects it" in refused.message, refused.message


def test_a_control_reject_at_another_ttl_than_the_agents_packets(tmp_path: Path) -> None:
    """The agent's reject of the control connection at TTL 64, its other packets to the
    media server (a probe of its own, answered with a RST) at 128: control_refused says
    the reject is a device's in its name."""
    stored = read_pcap(f"{CONTROL_REJECT}.pcap")
    start = stored[0][0] - 1.0
    probe = [(start, tcp_packet("10.77.0.2", "10.77.0.1", 40000, 22, "S", seq=7)),
             (start + 0.001, tcp_packet("10.77.0.1", "10.77.0.2", 22, 40000, "RA",
                                        ack=8))]
    packets = _with_ttls(probe + stored, "10.77.0.2", 14, tcp=128)
    analysis = _analysed(tmp_path / "control.pcap", packets,
                         CONTROL_REJECT.with_suffix(".toml"))
    [refused] = [f for f in analysis.findings if f.code == "control_refused"]
    assert ("The control connection from 10.77.0.1 was refused: the SYN to 10.77.0.2:10000 "
            "was answered with an ICMP unreachable \"communication administratively "
            "prohibited by filtering\" (code 13) "
            "from 10.77.0.2's address that 10.77.0.2 did not send: its TTL 64, where "
            "10.77.0.2's own packets arrive with 128" in refused.message), refused.message
    assert "that sent the reject in 10.77.0.2's name" in refused.fix, refused.fix


def _icmp_ttls(path: Path, packets: list[tuple[float, bytes]], toml: Path,
               linktype: int) -> dict[tuple[int, int], int | None]:
    """Connection.icmp_ttl by (responder port, originator packets captured) of each
    connection with an ICMP reject."""
    write_pcap(path, packets, linktype)
    traffic = read_traffic([str(path)], build_config(load_file(toml)))
    return {(c.resp_p, c.orig_pkts): c.icmp_ttl for c in traffic.connections
            if c.icmp_frames}


def test_the_reject_keeps_its_own_ttl_not_its_quotes(tmp_path: Path) -> None:
    """Connection.icmp_ttl is the IP header's carrying the ICMP message (61 here), not
    the quoted SYN's (64), on each path that ties a reject to its connection: a whole
    quote of a captured SYN, a quote of a SYN the capture lacks (a connection made of
    the quote, connections.icmp.QuotedAttempts), and a quote the snap length cut before
    the ports (connections.icmp_cut)."""
    ethernet = _with_ttls(_ethernet(_run24()), M, 14, icmp=61)
    whole = _icmp_ttls(tmp_path / "whole.pcap", ethernet, RUN24_TOML, 1)
    assert set(whole.values()) == {61} and all(sent for _, sent in whole)
    unseen = [(ts, frame) for ts, frame in ethernet  # the agent's callback SYNs left out
              if not (frame[14 + 6] == 6 and frame[14 + 40 + 13] == 0x02
                      and frame[14 + 40 + 2:14 + 40 + 4] != (10000).to_bytes(2, "big"))]
    assert len(unseen) < len(ethernet)
    quoted = _icmp_ttls(tmp_path / "unseen.pcap", unseen, RUN24_TOML, 1)
    assert set(quoted.values()) == {61} and not any(sent for _, sent in quoted), quoted
    cut = FIELD46 / "callback-icmpv6-reject-snap96-sll2"
    data = bytearray(Path(f"{cut}.pcap").read_bytes())  # its records' lengths kept: cut
    offset = 24
    while offset + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, offset + 8)[0]
        start = offset + 16
        [(_, frame)] = _with_ttls([(0.0, bytes(data[start:start + caplen]))], "fd77::1",
                                  SLL2_HEADER, icmp=61)
        data[start:start + caplen] = frame
        offset = start + caplen
    path = tmp_path / "cut.pcap"
    path.write_bytes(bytes(data))
    traffic = read_traffic([str(path)], build_config(load_file(cut.with_suffix(".toml"))))
    [conn] = [c for c in traffic.connections if c.icmp_frames]
    assert conn.icmp_cut is not None and conn.icmp_ttl == 61


def _second_reject_at(packets: list[tuple[float, bytes]], hop_limit: int
                      ) -> list[tuple[float, bytes]]:
    """Ethernet packets with the second ICMPv6 message from the media server at
    hop_limit (ICMPv6's checksum does not cover it)."""
    changed, seen = [], 0
    for ts, frame in packets:
        ip = frame[14:]
        if ip[0] >> 4 == 6 and ip[6] == 58 and ip[8:24] == ipaddress.ip_address(M).packed:
            seen += 1
            if seen == 2:
                frame = frame[:14 + 7] + bytes([hop_limit]) + frame[14 + 8:]
        changed.append((ts, frame))
    assert seen >= 2
    return changed


def test_rejects_at_two_ttls_prove_no_device_between(tmp_path: Path) -> None:
    """Run 24 off the host, its packets one router lower (63) and its first reject
    undecremented (64), but its second at 63 as its own packets: the rejects disagree
    (a route change, two senders), so neither proves the first was forged; icmp_ttl is
    None on the tracked and the quote-made connection alike, and the words keep the
    hedge (the first reject's TTL alone read 'did not send')."""
    packets = _second_reject_at(_with_ttls(_ethernet(_run24()), M, 14, tcp=63), 63)
    refused = _refused(_analysed(tmp_path / "two-ttls.pcap", packets, RUN24_TOML))
    assert "did not send" not in refused.message, refused.message
    assert ("a firewall on fd77::1, or a bridge (transparent) firewall in front of fd77::1 "
            "answering in its name, rejects it" in refused.message), refused.message
    assert set(_icmp_ttls(tmp_path / "whole.pcap", packets, RUN24_TOML, 1).values()) == {None}
    unseen = [(ts, frame) for ts, frame in packets  # the agent's callback SYNs left out
              if not (frame[14 + 6] == 6 and frame[14 + 40 + 13] == 0x02
                      and frame[14 + 40 + 2:14 + 40 + 4] != (10000).to_bytes(2, "big"))]
    assert set(_icmp_ttls(tmp_path / "unseen.pcap", unseen, RUN24_TOML, 1).values()) == {None}


def _refused_nine_times(ninth_ttl: int) -> list[tuple[float, bytes]]:
    """The agent's probe of its own to the media server at TTL 128 (answered with a RST),
    then the control SYN sent nine times a second apart (one attempt), each answered by
    the agent's ICMP administratively prohibited at TTL 64 but the ninth, at ninth_ttl:
    one reject more than connections.icmp.FRAMES_PER_QUOTE keeps."""
    media, agent = "10.77.0.1", "10.77.0.2"
    packets = [(0.0, bytes(Ether() / IP(src=agent, dst=media, ttl=128, id=1)
                           / TCP(sport=40000, dport=22, flags="S", seq=7))),
               (0.001, bytes(Ether() / IP(src=media, dst=agent, ttl=64, id=0)
                             / TCP(sport=22, dport=40000, flags="RA", ack=8)))]
    for i in range(FRAMES_PER_QUOTE + 1):
        syn = IP(src=media, dst=agent, ttl=64, id=100 + i) / TCP(sport=5091, dport=10000,
                                                                 flags="S", seq=1000)
        ttl = ninth_ttl if i == FRAMES_PER_QUOTE else 64
        packets += [(1.0 + i, bytes(Ether() / syn)),
                    (1.001 + i, bytes(Ether() / IP(src=agent, dst=media, ttl=ttl, id=200 + i)
                                      / ICMP(type=3, code=13) / syn))]
    return packets


def test_a_reject_past_the_frames_kept_at_another_ttl_proves_no_device(tmp_path: Path
                                                                       ) -> None:
    """Nine rejects of one control SYN, the first eight at 64 and the agent's own packets
    at 128: the ninth at 128 too leaves the rejects' TTL unknown (a route change, two
    senders), so neither "did not send" nor the device fix; all nine at 64 still prove it
    (the rule is the TTLs', not the count's). Before, the ninth, past FRAMES_PER_QUOTE,
    was not compared: "did not send: its TTL 64"."""
    toml = CONTROL_REJECT.with_suffix(".toml")
    [same] = [f for f in _analysed(tmp_path / "same.pcap", _refused_nine_times(64),
                                   toml).findings if f.code == "control_refused"]
    assert "10.77.0.2 did not send: its TTL 64, where" in same.message, same.message
    [two] = [f for f in _analysed(tmp_path / "two.pcap", _refused_nine_times(128),
                                  toml).findings if f.code == "control_refused"]
    assert "did not send" not in two.message, two.message
    assert ("a firewall on 10.77.0.2, or a bridge (transparent) firewall in front of "
            "10.77.0.2 answering in its name, rejects it" in two.message), two.message
    assert "that sent the reject in 10.77.0.2's name" in same.fix, same.fix
    assert "that sent the reject in 10.77.0.2's name" not in two.fix, two.fix
