"""Field check 57's lab matrix (captures/field57-matrix, README.md there), seed 120.

Run 12: `tcpdump -i any` (SLL2) on the agent, whose input chain rejects ndmjob's control
SYNs with ICMP network unreachable. The file holds the media server's two SYNs marked
arriving addressed to the capture host and the agent's two rejects marked sent by it,
and no TCP of the agent's. `control_refused` said "a firewall on 10.77.0.2, or a bridge
(transparent) firewall in front of 10.77.0.2 answering in its name, ... nothing in the
capture tells them apart (a capture on 10.77.0.2 itself holds its own reject leaving
it)", though this capture holds it so: capture_host.proven_host places a capture by the
host's own SYNs, FINs and RSTs, and the refused agent sent none
(flowcheck.verify.own_reject.rejects_marked).

On bytes: the stored file, and its packets with their Linux cooked packet types changed
(SLL2's byte 10): a copy of each reject marked arriving (a second host's capture merged
in), and the SYNs marked sent with the rejects arriving (a capture on the media server).

Review 53d: a router's own `tcpdump -i any`, its nftables netdev ingress rejecting the
SYNs in the agent's name, holds the same marks (tests/data/review53d), so run 12's words
need the capture host's own TCP from the agent's address too (a SYN without ACK of it to
some peer marked leaving at an initial TTL; review 53e: not a SYN-ACK or FIN, which a
router's transparent proxy sends in the agent's name): the stored file, which holds none, keeps the
hedge; with a SYN of the agent's to another host added it is placed.

Run 19: both hosts' `tcpdump -i any` (SLL) merged, the media server's own DNAT sending the
data connection to 10.77.0.2 where the agent announced 10.79.0.2.
`announced_address_mismatch` said "This capture does not show which address the media
server 10.77.0.1 uses for the agent ... and so does a capture on the media server", that
capture in the file: each SYN of the media server's marked leaving it, then arriving at
10.77.0.2 at one TTL (flowcheck.verify.addresses.connector_leaving). On bytes: the file,
and the same packets with every leaving mark made an arriving one (nothing then shows
the media server's own capture).

Run 10: `tcpdump -i any` (SLL2) on a dual-stack agent (control connection over IPv6, the
callback over IPv4), the media server's input dropping the callback SYNs.
`callback_unanswered` said "unless it was taken on 10.77.0.1 itself": the capture host
sent 10.77.0.2's SYNs, and the file is one host's capture whose host the IPv6 pair proves,
but 10.77.0.1 sent nothing over IPv4 (flowcheck.verify.cooked_host.one_host). On bytes:
the file, and the same with a copy of each of fd77::1's packets marked leaving (the media
server's own capture merged in), where nothing shows one host.

Run 16: both hosts' dumpcap captures merged keeping both interfaces (pcapng): each packet
on one interface, then on the other at its TTL, 21 copies within 0.5 ms and 2 later.
`capture_duplicates` said "2 of them were told by where they were captured: another of the
file's interfaces ..." and nothing of the 21 (flowcheck.connections.relay_words.
all_apart_words).

Run 28: a job in TLS from the control connection's first byte, both hosts captured with
`-s 128` and merged: `ndmp_partial` counted 8 cut packets, 1788 B not captured, and named
no frame (its frames were the records' and messages', and no NDMP record is in the
stream): now the cut packets' own (flowcheck.ndmp.findings.SnapCut.cut_frames).
"""

from __future__ import annotations

from pathlib import Path

from capture_factory import write_pcap
from pcap_records import stored_records
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

HERE = Path(__file__).resolve().parents[1] / "captures" / "field57-matrix"
REJECTED = HERE / "ndmjob-control-rejected-net-unreachable-by-agent-any-on-agent-sll2.pcap.gz"
TOML = REJECTED.with_name(REJECTED.name[:-len(".pcap.gz")] + ".toml")
LINUX_SLL2, SLL2_TYPE = 276, 10  # the link type; its header's packet type byte
PACKET_HOST, PACKET_OUTGOING = 0, 4
HEDGE = "nothing in the capture tells them apart"
# The hedge of a capture marked as one on the agent or on a router rejecting in its name
# (own_reject.reject_sent_here), which no longer asks for the capture it is (review 53e).
ROUTER_HEDGE = ("a firewall on 10.77.0.2, or a router in front of 10.77.0.2 rejecting in "
                "its name, rejects it")
SAME_MARKS = ("a capture on 10.77.0.2 marks them so, and so does one on a router that "
              "rejects in 10.77.0.2's name")
NAT = HERE / "nat-media-dnat-both-hosts-any-merged-sll-stopped.pcap.gz"
NAT_TOML = NAT.with_name(NAT.name[:-len(".pcap.gz")] + ".toml")
LINUX_SLL = 113  # its header's packet type: the first two bytes, big-endian
DUAL = HERE / "dual-stack-callback-syns-dropped-by-media-any-on-agent-sll2.pcap.gz"
DUAL_TOML = DUAL.with_name(DUAL.name[:-len(".pcap.gz")] + ".toml")
APART = HERE / "ndmjob-data-syns-dropped-by-media-both-hosts-merged-pcapng-snap128.pcapng.gz"
TLS_CUT = HERE / "tls-start-callback-syns-dropped-by-media-both-hosts-merged-snap128.pcap.gz"


def _records(path: Path = REJECTED, linktype: int = LINUX_SLL2) -> list[tuple[float, bytes]]:
    """A stored file's records: (seconds, Linux cooked frame), in capture order."""
    kind, records = stored_records(path)
    assert kind == linktype
    # Each time the float nearest its decimal seconds.microseconds, as write_pcap takes it.
    return [(float(f"{record.micros // 10**6}.{record.micros % 10**6:06d}"), record.data)
            for record in records]


def _marked(frame: bytes, packet_type: int) -> bytes:
    """frame with its SLL2 packet type set."""
    return frame[:SLL2_TYPE] + bytes([packet_type]) + frame[SLL2_TYPE + 1:]


def _is_icmp(frame: bytes) -> bool:
    return frame[20 + 9] == 1  # after SLL2's 20 bytes, IPv4's protocol field


def _refused(tmp_path: Path, records: list[tuple[float, bytes]]) -> Finding:
    path = write_pcap(tmp_path / "run12-marked.pcap", records, LINUX_SLL2)
    config = build_config(load_file(TOML))
    analysis = analyze(read_traffic([str(path)], config), config)
    assert analysis.verdict == "fail"
    [refused] = [f for f in analysis.findings if f.code == "control_refused"]
    return refused


def test_the_stored_files_marks_alone_keep_the_hedge() -> None:
    """SYNs marked arriving at the capture host, its rejects from the agent's address
    marked sent by it, and nothing else: a router's own reject in the agent's name (an
    nftables netdev ingress reject) leaves the same marks on the router's capture
    (review 53d, tests/data/review53d), so the file does not show it was taken on the
    agent and the words stay unplaced."""
    analysis = shared_analysis(REJECTED)
    assert analysis.verdict == "fail"
    [refused] = analysis.findings
    assert refused.code == "control_refused"
    assert refused.frames == [1, 2, 3, 4]
    assert ROUTER_HEDGE in refused.message and SAME_MARKS in refused.message
    assert "this capture was taken on" not in refused.message
    # Not the words that sent the user to take the capture this file is.
    assert "a capture on 10.77.0.2 itself holds its own reject" not in refused.message
    assert "bridge (transparent)" not in refused.message
    assert ("the reject rule is in 10.77.0.2's firewall or in a router in front of "
            "10.77.0.2 that rejects in its name (" in refused.fix)


def _agents_own_syn(ttl: int) -> tuple[float, bytes]:
    """A SYN of the agent's to another host (10.77.0.9:22), marked sent by the capture
    host, after the file's last frame."""
    from scapy.layers.inet import IP, TCP

    ts, reject = _records()[-1]
    ip = bytes(IP(src="10.77.0.2", dst="10.77.0.9", ttl=ttl, id=7, flags="DF")
               / TCP(sport=40000, dport=22, flags="S", seq=5, window=64240))
    return round(ts + 0.5, 6), _marked(reject[:20], PACKET_OUTGOING) + ip


def test_the_agents_own_tcp_leaving_places_the_capture_on_it(tmp_path: Path) -> None:
    """The stored file and a SYN of the agent's to another host marked sent by the
    capture host at TTL 64, an initial value: the capture host sends TCP from
    10.77.0.2's address, so the reject left 10.77.0.2: its own firewall."""
    refused = _refused(tmp_path, [*_records(), _agents_own_syn(64)])
    assert "ICMP network unreachable (code 0): a firewall on 10.77.0.2 rejects it (" \
        in refused.message
    assert ("this capture was taken on 10.77.0.2 (its Linux cooked headers mark each SYN "
            "from 10.77.0.1 arriving addressed to the capture host, the reject, from "
            "10.77.0.2's address, sent by it, and each SYN, FIN and RST of 10.77.0.2's to "
            "10.77.0.9 sent by it (outgoing), at TTL 64, an initial value" in refused.message)
    assert HEDGE not in refused.message and "bridge (transparent)" not in refused.message
    assert "the reject rule is in 10.77.0.2's firewall, so the allow rule" in refused.fix


def test_the_agents_tcp_one_ttl_lower_keeps_the_hedge(tmp_path: Path) -> None:
    """The same SYN of the agent's at TTL 63, no initial value: a router passed it on,
    which shows no capture on 10.77.0.2."""
    refused = _refused(tmp_path, [*_records(), _agents_own_syn(63)])
    assert ROUTER_HEDGE in refused.message and SAME_MARKS in refused.message
    assert "this capture was taken on" not in refused.message


def test_a_reject_also_captured_arriving_keeps_the_hedge(tmp_path: Path) -> None:
    """Each reject in the file a second time, 20 us later, marked arriving (the media
    server's own capture merged in): no one capture host sent it; the words before."""
    records = []
    for ts, frame in _records():
        records.append((ts, frame))
        if _is_icmp(frame):
            records.append((round(ts + 0.00002, 6), _marked(frame, PACKET_HOST)))
    refused = _refused(tmp_path, records)
    assert "a firewall on 10.77.0.2, or a bridge (transparent) firewall in front of " \
        "10.77.0.2 answering in its name," in refused.message
    assert HEDGE in refused.message and "this capture was taken on" not in refused.message


def test_syns_marked_sent_and_rejects_arriving_keep_the_hedge(tmp_path: Path) -> None:
    """The marks of a capture on the media server (its SYNs sent, the rejects arriving):
    nothing shows the reject leaving the agent."""
    records = [(ts, _marked(frame, PACKET_HOST if _is_icmp(frame) else PACKET_OUTGOING))
               for ts, frame in _records()]
    refused = _refused(tmp_path, records)
    assert HEDGE in refused.message and "this capture was taken on" not in refused.message


def test_a_merge_holding_the_media_servers_own_capture_places_its_nat() -> None:
    """The control and data SYNs marked leaving the media server and arriving at
    10.77.0.2 at one TTL: the merge holds the media server's own capture, which sees its
    packets after its NAT rules; the fix is the announcement's, without the either-or."""
    analysis = shared_analysis(NAT)
    assert analysis.verdict == "fail"
    [mismatch] = [f for f in analysis.findings if f.code == "announced_address_mismatch"]
    assert mismatch.frames == [41, 43, 45]
    assert ("This capture holds the media server's own capture (its Linux cooked headers "
            "mark the SYNs of the control connection and of C3 each captured leaving "
            "10.77.0.1 (outgoing) and again arriving at 10.77.0.2, the host it was "
            "addressed to, at one TTL, 64" in mismatch.message)
    assert ("the media server 10.77.0.1 opened its control connection to 10.77.0.2 itself"
            in mismatch.message)
    assert "does not show which address" not in mismatch.message
    assert mismatch.fix.startswith("Make the agent announce the address the media server "
                                   "10.77.0.1 reaches it on (10.77.0.2)")


def test_the_same_merge_marked_arriving_only_keeps_the_either_or(tmp_path: Path) -> None:
    """Every copy marked arriving (PACKET_HOST): no part of the file shows a packet
    leaving the media server, so the capture does not tell its address for the agent."""
    records = [(ts, (PACKET_HOST).to_bytes(2, "big") + frame[2:])
               for ts, frame in _records(NAT, LINUX_SLL)]
    path = write_pcap(tmp_path / "run19-arriving.pcap", records, LINUX_SLL)
    config = build_config(load_file(NAT_TOML))
    analysis = analyze(read_traffic([str(path)], config), config)
    [mismatch] = [f for f in analysis.findings if f.code == "announced_address_mismatch"]
    assert ("This capture does not show which address the media server 10.77.0.1 uses "
            "for the agent" in mismatch.message)
    assert "own capture" not in mismatch.message


def _unanswered(analysis: Analysis) -> Finding:
    assert analysis.verdict == "fail"
    [unanswered] = [f for f in analysis.findings if f.code == "callback_unanswered"]
    assert "tried to call the job engine back at 10.77.0.1:5001" in unanswered.message
    return unanswered


def test_a_dual_stack_agents_own_capture_places_its_ipv4_callback() -> None:
    """The callback SYNs from 10.77.0.2 marked sent by the capture host, which the IPv6
    pair proves is the agent, in one host's capture: taken on 10.77.0.2, not 10.77.0.1."""
    unanswered = _unanswered(shared_analysis(DUAL))
    assert unanswered.frames == [22, 25, 26, 27]
    assert ("this capture was taken on 10.77.0.2 (its Linux cooked headers mark each SYN, FIN "
            "and RST of 10.77.0.2's to 10.77.0.1 sent by the capture host (outgoing), at TTL "
            "64" in unanswered.message)
    assert ("10.77.0.1 sent nothing to 10.77.0.2, but the capture host is fd77::2"
            in unanswered.message)
    assert unanswered.message.rstrip(".").endswith("not on 10.77.0.1")
    assert "unless it was taken on 10.77.0.1 itself" not in unanswered.message
    assert ("This capture was taken on 10.77.0.2 (its Linux cooked headers show it): a "
            "capture on 10.77.0.1 shows which way they are lost" in unanswered.fix)


def test_the_media_servers_capture_merged_in_leaves_it_open(tmp_path: Path) -> None:
    """Each of fd77::1's packets also as the media server's own capture holds it, marked
    leaving, 20 us earlier: two hosts' captures, the words stay conditional."""
    records = []
    for ts, frame in _records(DUAL):
        if frame[0:2] == b"\x86\xdd" and frame[20 + 8:20 + 24] == bytes.fromhex(
                "fd770000000000000000000000000001"):
            records.append((round(ts - 0.00002, 6), _marked(frame, PACKET_OUTGOING)))
        records.append((ts, frame))
    path = write_pcap(tmp_path / "run10-merged.pcap", records, LINUX_SLL2)
    config = build_config(load_file(DUAL_TOML))
    unanswered = _unanswered(analyze(read_traffic([str(path)], config), config))
    assert "unless it was taken on 10.77.0.1 itself" in unanswered.message
    assert "this capture was taken on" not in unanswered.message


def test_copies_near_and_late_on_the_other_interface_are_told_together() -> None:
    """The near copies read and the 2 late ones, each on the other interface at its
    original's TTL, counted in one sentence with their delays."""
    analysis = shared_analysis(APART)
    assert analysis.verdict == "fail"
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert copies.message.startswith("23 of the 46 TCP packets compared are copies")
    # Every copy's interfaces are read, the one whose original ended the batch before too
    # (orderfix: "Of the 22 of them whose interfaces were read (not every copy's is)").
    assert ("All of them were told by where they were captured: another of the file's "
            "interfaces, each with its original's TTL, 21 within 0.5 ms of it and 2 later "
            "(2.3 ms to 3.98 ms after it), the file marking neither as coming in or going out"
            in copies.message)
    assert ". 2 of them were told" not in copies.message
    assert "Not copies the network delivered twice" in copies.message
    # Two capture points' copies are evidence: kept (newuser63).
    assert copies.fix.startswith("nothing to fix in the network for the copies; keep the "
                                 "file's interfaces together (if they are two capture "
                                 "points', what one point saw and the other did not places "
                                 "a loss between them")
    assert "analyze one of the file's interfaces alone" in copies.fix


def test_a_tls_streams_snap_length_cut_names_the_cut_packets() -> None:
    """No NDMP record in the stream: the evidence is the 8 packets the snap length cut
    (each once: their capture copies add no bytes), the first one's time."""
    analysis = shared_analysis(TLS_CUT)
    assert analysis.verdict == "fail"
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert "(8 packets, 1,788 B not captured). No message could be read." in \
        partial.message
    assert partial.frames == [7, 11, 15, 19, 23, 31, 37, 41]
    assert partial.ts is not None
