"""Field check 58's lab matrix (captures/field58-matrix, README.md there), seed 121.

Run 4: `tcpdump -i any -s 128` (SLL2) on the media server, the agent's input chain
rejecting ndmjob's control SYNs with ICMP code 9 (network administratively prohibited,
nft's `reject with icmp type net-prohibited`). `control_refused` gave as the rule that
sends it "such as nft's `reject with icmpx admin-prohibited`", which sends code 13 over
IPv4: now the rule of the code the capture holds (flowcheck.verify.prohibited_rules).
On bytes: the stored file, and its rejects' code made 10 and 13 (checksum redone).

Run 20: both hosts' `tcpdump -i any` (SLL2) merged, the agent's input chain dropping
ndmjob's control SYNs: each SYN marked leaving the media server and arriving at the agent
at TTL 64, nothing of the agent's. `control_unanswered` said "something drops its SYNs on
the way to 10.77.0.2 ... it may hold one direction only", fix "A capture on 10.77.0.2, or
of both directions, shows which way is lost", that capture in the file
(flowcheck.verify.arrival.arrived_silent). On bytes: the file, and its arriving copies
marked as a bridge's port marks what it passes (PACKET_OTHERHOST): no arrival shown.
Its `capture_duplicates` said "1 of them was told by where they were captured, up to 4.0
ms after the original: ..." of 9 copies, nothing of the 8 within 0.5 ms marked alike
(flowcheck.connections.relay_words.all_handed_words).

Run 3: `tcpdump -i any` (SLL) on the media server, its input chain dropping an IPv6
restore's callback SYN, the capture stopped 0.14 s after it. `capture_ended_early` said
"whether it was answered cannot be seen", though the capture, taken on the media server
(its marks), holds its packets to the agent 0.040 s after that SYN and no answer to it
(flowcheck.verify.syn_on_receiver). On bytes: the file, and the same without the media
server's packet after the SYN (nothing then shows its leaving packets captured after it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_factory import write_pcap
from pcap_records import stored_records
from stored import shared_analysis, stored_analysis
from test_connections_util import internet_checksum

from flowcheck.model import Finding
from flowcheck.pipeline import Analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field58-matrix"
PROHIBITED = HERE / ("ndmjob-control-rejected-net-prohibited-by-agent-any-on-media-sll2-snap128"
                     ".pcap.gz")
PROHIBITED_TOML = PROHIBITED.with_name(PROHIBITED.name[:-len(".pcap.gz")] + ".toml")
MERGED = HERE / "ndmjob-control-syns-dropped-by-agent-both-hosts-any-merged-sll2.pcap.gz"
MERGED_TOML = MERGED.with_name(MERGED.name[:-len(".pcap.gz")] + ".toml")
LINUX_SLL2, SLL2_LEN, SLL2_TYPE = 276, 20, 10  # the link type; its header's length, type byte
PACKET_HOST, PACKET_OTHERHOST = 0, 3
STOPPED = HERE / "ipv6-restore-callback-syn-dropped-by-media-any-on-media-sll-stopped.pcap.gz"
STOPPED_TOML = STOPPED.with_name(STOPPED.name[:-len(".pcap.gz")] + ".toml")
LINUX_SLL = 113
ICMP = 1  # IPv4's protocol number


def _records(path: Path, linktype: int) -> list[tuple[float, bytes]]:
    """A stored file's records: (seconds, frame), in capture order."""
    kind, records = stored_records(path)
    assert kind == linktype
    # Each time the float nearest its decimal seconds.microseconds, as write_pcap takes it.
    return [(float(f"{record.micros // 10**6}.{record.micros % 10**6:06d}"), record.data)
            for record in records]


def _with_code(frame: bytes, code: int) -> bytes:
    """An SLL2 frame's ICMP message with its code set and its checksum redone; other
    frames as they are."""
    ip = frame[SLL2_LEN:]
    if ip[9] != ICMP:
        return frame
    start = SLL2_LEN + (ip[0] & 0x0F) * 4
    message = bytearray(frame[start:])
    message[1], message[2:4] = code, b"\0\0"
    message[2:4] = internet_checksum(bytes(message)).to_bytes(2, "big")
    return frame[:start] + bytes(message)


def _refused(finding_list: list[Finding]) -> Finding:
    [refused] = [f for f in finding_list if f.code == "control_refused"]
    return refused


def test_a_net_prohibited_reject_names_the_rule_that_sends_code_9() -> None:
    """ICMP code 9 from the agent's address: the rule named sends code 9."""
    analysis = shared_analysis(PROHIBITED)
    assert analysis.verdict == "fail"
    refused = _refused(analysis.findings)
    assert refused.frames == [1, 2, 3, 4]
    assert ('with an ICMP unreachable "communication with destination network administratively '
            'prohibited" (code 9)') in refused.message
    assert ("a closed port answers with a RST, not with this ICMP: a reject rule sends the "
            "ICMP, such as nft's `reject with icmp net-prohibited` (as "
            "`nft list ruleset` prints it; iptables' `REJECT --reject-with "
            "icmp-net-prohibited`)" in refused.message)
    assert "icmpx" not in refused.message
    # Captured on the media server: a bridge firewall's reject would arrive alike.
    assert "nothing in the capture tells them apart" in refused.message


@pytest.mark.parametrize(("code", "name", "rule"), [
    (10, "communication with destination host administratively prohibited",
     "such as nft's `reject with icmp host-prohibited` (as `nft list ruleset` prints "
         "it; iptables' `REJECT --reject-with icmp-host-prohibited`)"),
    (13, "communication administratively prohibited by filtering",
     "such as nft's `reject with icmp admin-prohibited` or `reject with icmpx "
         "admin-prohibited` (as `nft list ruleset` prints them; iptables' `REJECT "
         "--reject-with icmp-admin-prohibited`)"),
])
def test_each_prohibited_code_names_its_own_rule(tmp_path: Path, code: int, name: str,
                                                 rule: str) -> None:
    """The same rejects with code 10 (RHEL's stock REJECT) and 13: each its own name
    (readings62) and rule."""
    records = [(ts, _with_code(frame, code)) for ts, frame in _records(PROHIBITED, LINUX_SLL2)]
    path = write_pcap(tmp_path / f"run4-code{code}.pcap", records, LINUX_SLL2)
    analysis = stored_analysis(path, config_path=PROHIBITED_TOML)
    assert analysis.verdict == "fail"
    refused = _refused(analysis.findings)
    assert f'unreachable "{name}" (code {code})' in refused.message
    assert rule in refused.message


def _unanswered(analysis: Analysis) -> Finding:
    assert analysis.verdict == "fail"
    [unanswered] = [f for f in analysis.findings if f.code == "control_unanswered"]
    assert unanswered.frames == [1, 3, 5, 7, 9, 11, 13, 15, 17]
    return unanswered


def test_a_merge_holding_the_agents_arrivals_places_its_firewall() -> None:
    """Each SYN marked leaving the media server and arriving at the TTL it left with,
    nothing of the agent's: the SYNs reached the agent's own capture point, or the first
    router's toward it, its forward chain dropping them: that router's `tcpdump -i any`
    merged with the media server's holds these very bytes (the cooked header names the
    sender's link-layer address, not the frame's destination; the router lowers the TTL
    only of what it passes on), so the words name both (review 53b: they said "which is
    10.77.0.2 with no router between them")."""
    unanswered = _unanswered(shared_analysis(MERGED))
    # The capture ended at the ninth SYN (task resentsyn): what it cannot show, said.
    assert ("got no answer in the capture (over 19.4 s; it ends with the last, so "
            "whether that one or a later resend got through cannot be seen): the SYNs "
            "reached a capture point on 10.77.0.2, or on the "
            "first router from 10.77.0.1 toward it, which passed none of them on (the 9 are "
            "in the capture 18 times at one TTL, 64: its Linux cooked headers mark one copy "
            "outgoing, captured on 10.77.0.1 as it left" in unanswered.message)
    assert "with no router between them" not in unanswered.message
    assert ("unless that capture left out what its host sent (tcpdump -Q in), that host "
            "passed on or answered none of them: 10.77.0.2's own firewall drops them"
            in unanswered.message)
    assert "or that router's forward chain the SYNs" in unanswered.message
    assert "on the way to 10.77.0.2" not in unanswered.message
    assert "may hold one direction only" not in unanswered.message
    assert ("The SYNs reached a capture point on 10.77.0.2, or on the first router from "
            "10.77.0.1 toward it (its Linux cooked headers mark each arriving there, at the "
            "TTL it left 10.77.0.1 with): unless that capture left out what its host sent "
            "(tcpdump -Q in), that host's own firewall drops them (10.77.0.2's input chain "
            "the SYNs or its output chain its SYN-ACKs, or that router's forward chain), and "
            "the allow rule belongs there." in unanswered.fix)
    assert "a capture of both directions on 10.77.0.2 shows it" not in unanswered.fix


def test_copies_a_bridge_passed_keep_the_capture_asked_for(tmp_path: Path) -> None:
    """The arriving copies marked PACKET_OTHERHOST (a bridge's port passing them on): no
    capture point on the agent, the words before."""
    records = [(ts, frame[:SLL2_TYPE] + bytes([PACKET_OTHERHOST]) + frame[SLL2_TYPE + 1:]
                if frame[SLL2_TYPE] == PACKET_HOST else frame)
               for ts, frame in _records(MERGED, LINUX_SLL2)]
    path = write_pcap(tmp_path / "run20-bridged.pcap", records, LINUX_SLL2)
    analysis = stored_analysis(path, config_path=MERGED_TOML)
    unanswered = _unanswered(analysis)
    assert "something drops its SYNs on the way to 10.77.0.2" in unanswered.message
    assert "own capture point" not in unanswered.fix
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert "All of them were told" not in copies.message


def _ended_early(analysis: Analysis) -> Finding:
    assert analysis.verdict == "inconclusive"
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert early.frames == [21]
    assert early.message.startswith("The capture ended 39.8 ms after the SYN of the callback "
                                    "[fd77::2]:6076 -> [fd77::1]:5001, before TCP would have "
                                    "retried (TCP's first retransmission timeout is 1 s on "
                                    "Linux, 3 s on older Windows): ")
    return early


def test_the_receivers_own_capture_shows_its_syn_arrived_and_no_answer_left() -> None:
    """The callback's one SYN arriving at the media server, whose capture it is and which
    sent its next packet 0.040 s later, no answer among them: what the capture shows, and
    the likely cause as likely only (an answer may wait in a busy outgoing queue)."""
    early = _ended_early(shared_analysis(STOPPED))
    assert ("whether it was answered cannot be seen. It arrived at fd77::1, where this "
            "capture was taken (its Linux cooked headers show it), and no SYN-ACK, RST or "
            "ICMP of fd77::1's for it left in the 39.8 ms after it that the capture holds "
            "of fd77::1's packets to fd77::2: a host answers a SYN at once, so fd77::1's own "
            "firewall (its input chain dropping the SYN, or its output chain the answer) or "
            "a full listen queue is the likely cause, though a busy host's outgoing queue "
            "can hold an answer longer than that." in early.message)
    assert "went unanswered" not in early.message


def test_nothing_of_the_receivers_after_the_syn_keeps_it_unseen(tmp_path: Path) -> None:
    """The media server's packet after the SYN left out (the file's last): nothing shows
    the capture still took what it sent, the words before."""
    records = _records(STOPPED, LINUX_SLL)[:-1]
    path = write_pcap(tmp_path / "run3-cut.pcap", records, LINUX_SLL)
    analysis = stored_analysis(path, config_path=STOPPED_TOML)
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert "whether it was answered cannot be seen. A packet missing" in early.message
    assert "It arrived at fd77::1" not in early.message
