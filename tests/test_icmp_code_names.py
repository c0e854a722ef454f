"""Each filter code of an ICMP unreachable answering a SYN by its own name, the one tshark
gives it (readings62; note61: IPv4 codes 9, 10 and 13 all read "administratively
prohibited" but for the code in brackets, where RFC 1122 3.2.2.1 / RFC 1812 5.2.7.1 name
a destination network's, a destination host's, and a router's filter's prohibition).

The captures are built in-process with scapy from stored refusals: lab/data-port-rejected
(the agent's ICMP port unreachable answering the media server's data SYN) given codes 9,
10 and 13, and lab-trial28-ndp/routed-control-policyfail-media (a router's ICMPv6
unreachable answering the control SYN) given code 1. tshark reads each built file: its
name for the code (`Code: 13 (Communication administratively filtered)`) must be what
flowcheck's words say, word for word but for their endings."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from scapy.all import ICMP, Ether, ICMPv6DestUnreach, ICMPv6PacketTooBig, IPv6, rdpcap, wrpcap
from stored import stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
V4 = CAPTURES / "lab" / "data-port-rejected.pcap"
V6 = CAPTURES / "lab-trial28-ndp" / "routed-control-policyfail-media.pcap"


def _with_code(tmp_path: Path, capture: Path, code: int) -> Path:
    """`capture` with every ICMP (or ICMPv6) destination unreachable given `code`."""
    packets = rdpcap(str(capture))
    for packet in packets:
        if packet.haslayer(ICMP) and packet[ICMP].type == 3:
            packet[ICMP].code = code
            del packet[ICMP].chksum
        if packet.haslayer(ICMPv6DestUnreach):
            packet[ICMPv6DestUnreach].code = code
            del packet[ICMPv6DestUnreach].cksum
    out = tmp_path / f"{capture.stem}-code{code}.pcap"
    wrpcap(str(out), packets)
    return out


def _tshark_name(capture: Path, code: int) -> str:
    """tshark's name for the unreachable's code: "Communication administratively
    filtered" from its `Code: 13 (...)` line."""
    shown = subprocess.run(["tshark", "-r", str(capture), "-V", "-Y", "icmp || icmpv6"],
                           capture_output=True, text=True, check=True).stdout
    names = set(re.findall(rf"^\s+Code: {code} \((.+)\)$", shown, re.MULTILINE))
    assert len(names) == 1, names
    return names.pop()


def _stems(text: str) -> set[str]:
    """The words' first six letters (lower case): "filtered" and "filtering" alike."""
    return {word[:6] for word in re.findall(r"[a-z]+", text.lower())}


def _named_message(tmp_path: Path, capture: Path, code: int, code_name: str,
                   finding: str) -> str:
    """The message (white space folded) of the one `finding` of `capture` rewritten to
    ICMP code `code`, once tshark's name of the code is checked to be `code_name`'s
    words and the message to read it: 'unreachable "{code_name}" (code {code})'."""
    built = _with_code(tmp_path, capture, code)
    shark = _tshark_name(built, code)
    assert _stems(shark) <= _stems(code_name), (shark, code_name)
    analysis = stored_analysis(built, config_path=capture.with_suffix(".toml"))
    [refused] = [f for f in analysis.findings if f.code == finding]
    message = " ".join(refused.message.split())
    assert f'unreachable "{code_name}" (code {code})' in message, message
    return message


@pytest.mark.parametrize(("capture", "code", "code_name", "finding"), [
    (V4, 9, "communication with destination network administratively prohibited",
     "data_refused"),
    (V4, 10, "communication with destination host administratively prohibited",
     "data_refused"),
    (V4, 13, "communication administratively prohibited by filtering", "data_refused"),
    (V6, 1, "communication with destination administratively prohibited", "control_refused"),
])
def test_a_filter_codes_words_are_its_own_and_tsharks(
        tmp_path: Path, capture: Path, code: int, code_name: str, finding: str) -> None:
    message = _named_message(tmp_path, capture, code, code_name, finding)
    # No other code's name: the three IPv4 codes read apart.
    assert "administratively prohibited unreachable" not in message


@pytest.mark.parametrize(("capture", "code", "code_name", "finding"), [
    (V4, 2, "protocol unreachable", "data_refused"),
    (V4, 5, "source route failed", "data_refused"),
    (V4, 8, "source host isolated", "data_refused"),
    (V4, 11, "network unreachable for type of service (TOS)", "data_refused"),
    (V4, 12, "host unreachable for type of service (TOS)", "data_refused"),
    (V4, 14, "host precedence violation", "data_refused"),
    (V4, 15, "precedence cutoff in effect", "data_refused"),
    (V6, 2, "beyond scope of source address", "control_refused"),
    (V6, 7, "error in source routing header", "control_refused"),
])
def test_every_other_code_is_named_with_its_number(
        tmp_path: Path, capture: Path, code: int, code_name: str, finding: str) -> None:
    """review62c: the codes neither a filter's, a closed port's nor routing's read "an
    ICMP unreachable" and no more, where tshark shows `Code: 14 (Host precedence
    violation)`: the report held nothing to tell one code from another. Each now reads
    by tshark's name and its number, as the named codes do."""
    message = _named_message(tmp_path, capture, code, code_name, finding)
    assert "administratively prohibited" not in message  # no filter's code's name


def test_a_fragmentation_needed_answering_the_syn_refuses_nothing(tmp_path: Path) -> None:
    """review62c: IPv4's fragmentation needed (type 3 code 4, RFC 1191) is path MTU
    discovery's message, on which a TCP lowers its MTU and goes on, a connect too (Linux
    tcp_v4_err), as ICMPv6's packet too big: the SYN it answered read data_refused
    ("answered the SYN with an ICMP unreachable: either nothing listens there ... or a
    firewall rejects it"). Counted as path MTU's message (Connection.too_big_*), it
    leaves the SYN unanswered: no answer refused it."""
    built = _with_code(tmp_path, V4, 4)
    assert _tshark_name(built, 4) == "Fragmentation needed"
    analysis = stored_analysis(built, config_path=V4.with_suffix(".toml"))
    codes = {f.code for f in analysis.findings}
    assert "data_refused" not in codes and "data_unanswered" in codes, codes
    [told] = [c for c in analysis.traffic.connections if c.too_big_count]
    assert told.icmp_frames == [] and told.icmp_code is None


def test_a_syn_answered_by_fragmentation_needed_names_it(tmp_path: Path) -> None:
    """The SYN that fragmentation needed alone answered (frame 23, tshark's
    "Destination unreachable (Fragmentation needed)") read "got no answer in the
    capture" and its step "no SYN-ACK, RST or ICMP", the ICMP in the capture left
    unsaid: the words name it, say it refuses nothing and that a TCP lowers its MTU and
    retries, and the finding's frames hold it."""
    built = _with_code(tmp_path, V4, 4)
    analysis = stored_analysis(built, config_path=V4.with_suffix(".toml"))
    [told] = [c for c in analysis.traffic.connections if c.too_big_count]
    [unanswered] = [f for f in analysis.findings if f.code == "data_unanswered"]
    message = " ".join(unanswered.message.split())
    assert (f"an ICMP 'fragmentation needed' (type 3 code 4) from {told.resp_h} quoting it "
            "(frame 23)") in message, message
    assert "which refuses nothing: a TCP lowers its MTU on it and retries" in message
    assert 23 in unanswered.frames
    [step] = [s for s in analysis.sessions[0].steps if s.status == "failed"]
    assert "no SYN-ACK, RST or ICMP" not in step.detail
    assert "ICMP 'fragmentation needed' (frame 23), which refuses nothing" in step.detail


def test_control_syns_answered_by_packet_too_big_name_it(tmp_path: Path) -> None:
    """lab-trial28-ndp/routed-control-policyfail-media, the router's two ICMPv6
    unreachables (frames 2, 4) made packet too big (MTU 1280, the quote kept: tshark's
    "Packet Too Big"): the control SYNs read "got no answer in the capture" with the
    messages unsaid; they are named, with what they are and that they refuse nothing."""
    packets = []
    for packet in rdpcap(str(V6)):
        if packet.haslayer(ICMPv6DestUnreach):
            ip = packet[IPv6]
            made = (Ether(src=packet[Ether].src, dst=packet[Ether].dst)
                    / IPv6(src=ip.src, dst=ip.dst, hlim=ip.hlim)
                    / ICMPv6PacketTooBig(mtu=1280) / bytes(packet[ICMPv6DestUnreach].payload))
            made.time = packet.time
            packet = made
        packets.append(packet)
    built = tmp_path / "packet-too-big.pcap"
    wrpcap(str(built), packets)
    shown = subprocess.run(["tshark", "-r", str(built), "-Y", "icmpv6.type == 2"],
                           capture_output=True, text=True, check=True).stdout
    assert shown.count("Packet Too Big") == 2
    analysis = stored_analysis(built, config_path=V6.with_suffix(".toml"))
    [unanswered] = [f for f in analysis.findings if f.code == "control_unanswered"]
    message = " ".join(unanswered.message.split())
    assert ("2 ICMPv6 'packet too big' (type 2) messages from fd79::fe quoting it (frames 2, 4), "
            "reporting a next-hop MTU of 1280: path MTU discovery's message (RFC 8201), which "
            "refuses nothing") in message, message
    assert {2, 4} <= set(unanswered.frames)
