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
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

from capture_factory import write_pcap
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

HERE = Path(__file__).resolve().parents[1] / "captures" / "field55-matrix"
REJECTED = HERE / "callback-rejected-admin-prohibited-by-media-any-on-media-ipv6.pcap.gz"
SLL2_HEADER = 20  # LINKTYPE_LINUX_SLL2's header; its first two bytes the EtherType
MEDIA_MAC, AGENT_MAC = b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02"
M = "fd77::1"


def _refused(analysis: Analysis) -> Finding:
    [refused] = [f for f in analysis.findings if f.code == "callback_refused"]
    return refused


def _as_ethernet(tmp_path: Path) -> Analysis:
    """Run 24's packets with Ethernet headers instead of Linux cooked ones (the media
    server's frames from its MAC, the agent's to it), analysed with the run's config."""
    data = gzip.decompress(REJECTED.read_bytes())
    assert struct.unpack_from("<I", data, 20)[0] == 276  # LINKTYPE_LINUX_SLL2
    packets, offset = [], 24
    while offset + 16 <= len(data):
        seconds, micros, caplen, _ = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen
        ethertype, ip = frame[:2], frame[SLL2_HEADER:]
        source = ip[8:24] if ethertype == b"\x86\xdd" else b""
        from_media = source == bytes.fromhex("fd770000000000000000000000000001")
        macs = AGENT_MAC + MEDIA_MAC if from_media else MEDIA_MAC + AGENT_MAC
        packets.append((float(f"{seconds}.{micros:06d}"), macs + ethertype + ip))
    path = write_pcap(tmp_path / "run24-ethernet.pcap", packets)
    config = build_config(load_file(REJECTED.with_name(REJECTED.name[:-len(".pcap.gz")]
                                                       + ".toml")))
    return analyze(read_traffic([str(path)], config), config)


def test_the_reject_a_capture_on_the_host_holds_leaving_it_is_its_own_firewalls() -> None:
    refused = _refused(shared_analysis(REJECTED))
    assert ("a firewall on fd77::1 rejects it (the reject comes from fd77::1's own address, "
            "not a router's filter, which answers from its own; this capture was taken on "
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
