"""Field check 75's lab matrix (captures/field75-matrix, README.md there), seed 138.

Run 28: two routed IPv6 restores, the media server's output chain dropping its SYN-ACKs
to job 2's callback, captured by dumpcap on the router's interface toward the media
server with 1.25% of the frames deleted: the media server's first NDMP message
(CONNECT_OPEN, sequence 1) lost, its reply captured. Steps 3-5 read "unknown: whether
the session started a backup or restore cannot be seen: the sniffer missed 32 B" though
the sequence numbers name what the hole held (flowcheck.ndmp.lost.hole_contents, from a
direction's start); and the fix said "(this capture was taken there)" of the media
server where only the hop limits place the capture, on it or its segment
(flowcheck.verify.opening.own_firewall_fix).
Run 26: a TLS backup whose control connection the agent's input chain drops but for its
SYN, the capture stopped 1.17 s in, holding the agent's SYN-ACK resent after the media
server's ACK: the awaited greeting's capture_ended_early said only "an NDMP peer
answers at once", not that the ACK had not reached the agent
(flowcheck.verify.no_reply._unaccepted_words).
Run 21: both hosts' `tcpdump -i any` merged, 1.64% of the frames deleted: 9 control SYNs,
the fifth's outgoing copy lost, read "each is in the capture twice"
(flowcheck.verify.arrival.twice_words).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, write_records
from stored import shared_analysis, sidecar, stored_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field75-matrix"
ROUTER = HERE / "ipv6-two-jobs-routed-callback-synacks-dropped-by-media-out-router-loss.pcapng.gz"
STOPPED = HERE / "ipv6-tls-control-ack-in-dropped-by-agent-media-stopped.pcap.gz"
MERGED = HERE / "ndmjob-control-syns-dropped-by-agent-both-sll2-loss.pcap.gz"


def test_a_lost_first_message_the_sequence_numbers_name_hides_no_job() -> None:
    """The hole before the media server's first captured message held its message 1,
    the CONNECT_OPEN request the captured reply (frame 12) answers: the failed callback
    stopped the job, as in a whole capture."""
    analysis = shared_analysis(ROUTER)
    assert analysis.verdict == "fail"
    assert {f.code for f in analysis.findings if f.severity == "error"} == {
        "callback_unanswered"}
    [faulted] = [s for s in analysis.sessions if s.remote_agent == "fd77:1::3"]
    [stream] = [s for s in analysis.traffic.streams if s.uid == faulted.control_uid]
    [hole] = stream.holes
    assert (hole.direction, hole.frame, hole.held) == ("orig", 13, ("NDMP_CONNECT_OPEN",))
    steps = {step.step: step for step in faulted.steps}
    assert steps[2].status == "failed"
    for number in (3, 4, 5):
        assert steps[number].status == "not_applicable", steps[number].detail
        assert steps[number].detail == "not reached: the job stopped after step 2 failed"
    [other] = [s for s in analysis.sessions if s.remote_agent == "fd77:1::2"]
    assert {step.status for step in other.steps} == {"ok"}


def test_the_lost_first_message_is_named_in_the_words_too() -> None:
    """The ndmp_partial names what the hole before the media server's first message read
    held, as the steps read it (review63d: it said only "32 B were never captured, in 1
    hole" while steps 3-5 rested on the hole's CONNECT_OPEN)."""
    analysis = shared_analysis(ROUTER)
    [faulted] = [s for s in analysis.sessions if s.remote_agent == "fd77:1::3"]
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"
                 and f.uid == faulted.control_uid]
    assert ("From the originator, 32 B were never captured, in 1 hole. The bytes never "
            "captured held 1 whole message of the originator, before its first message "
            "read, in frame 13 (NDMP sequence number 2; each side numbers its messages from "
            "1, and the capture holds the connection's start): the CONNECT_OPEN request "
            "(sequence 1, answered in frame 12).") in partial.message


def test_a_capture_the_hop_limits_place_is_not_said_taken_on_the_host() -> None:
    """dumpcap on the router's side of the media server's segment: fd77::1's packets at
    hop limit 64, the agent's at 63, no Linux cooked marks. The fix keeps the message's
    hedge: the host or its segment, by its hop limits (IPv6 has no TTL: field check 76
    made the words one helper, CaptureHostProof.taken_there, naming the field as
    verify.ttl.ttl_word does)."""
    analysis = shared_analysis(ROUTER)
    [finding] = [f for f in analysis.findings if f.code == "callback_unanswered"]
    assert "this capture was taken on fd77::1 (or on its network segment" in finding.message
    assert finding.fix.startswith(
        "On fd77::1 itself (this capture was taken there or on its network segment, as the "
        "hop limits show), before any drop rule: accept the connection from fd77:1::3")
    assert "(this capture was taken there)" not in finding.fix


def test_an_awaited_greeting_says_the_agent_had_not_yet_the_ack() -> None:
    """SYN, SYN-ACK, ACK (frames 7-9), the SYN-ACK resent 1.02 s later (frame 10), the
    media server's ACK to it (frame 11) last: inconclusive (one resend, below
    RESENDS_ENOUGH), and the greeting's warning says why none had come."""
    analysis = shared_analysis(STOPPED)
    assert analysis.verdict == "inconclusive"
    [greeting] = [f for f in analysis.findings if f.code == "capture_ended_early"
                  and "NDMP greeting" in f.message]
    assert greeting.frames == [8, 10]
    assert ("The capture holds fd77::2's SYN-ACK resent after fd77::1's ACK completing the "
            "handshake (frame 9; the resend: frame 10): that ACK had not reached fd77::2's TCP "
            "(a listener resends"
            ) in greeting.message
    assert "whether a later ACK of fd77::1's got through cannot be seen" in greeting.message
    assert not [f for f in analysis.findings if f.code == "handshake_incomplete"]


def test_a_syn_the_capture_holds_once_is_not_said_to_be_in_it_twice() -> None:
    """Frames 1-8 and 10-17 are 8 SYNs each captured leaving M and arriving at A; frame 9,
    the fifth SYN, only arriving (its outgoing copy deleted): the SYNs' marks still place
    a capture point on A, and the words count them."""
    analysis = shared_analysis(MERGED)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.severity == "error"]
    assert finding.code == "control_unanswered"
    assert "9 SYNs" in finding.message
    assert ("which passed none of them on (8 of the 9 are in the capture twice (the other "
            "once: the capture lacks its other copy) at one TTL, 64") in finding.message
    assert "each is in the capture twice" not in finding.message


def test_syns_the_capture_holds_more_than_twice_are_counted_not_said_twice(
        tmp_path: Path) -> None:
    """field58-matrix's merged `-i any` capture (9 control SYNs, each captured leaving M
    and arriving at A) with each outgoing copy captured twice at its point, as an
    overlapping merge writes it: 27 copies of 9 SYNs, read "each is in the capture twice"
    (review63d); the count says what the capture holds, the reading stays."""
    capture = (HERE.parent / "field58-matrix"
               / "ndmjob-control-syns-dropped-by-agent-both-hosts-any-merged-sll2.pcap.gz")
    linktype, records = read_records(capture)
    doubled = [copy for number, record in enumerate(records, 1)
               for copy in ([record, replace(record, micros=record.micros + 5)]
                            if number % 2 else [record])]
    path = write_records(tmp_path / "doubled.pcap", linktype, doubled)
    analysis = stored_analysis(path, config_path=sidecar(capture))
    [finding] = [f for f in analysis.findings if f.severity == "error"]
    assert finding.code == "control_unanswered"
    assert ("which passed none of them on (the 9 are in the capture 27 times at one TTL, "
            "64") in finding.message
    assert "twice" not in finding.message
