"""Field check 60's lab matrix (captures/field60-matrix, README.md there), seed 123.

Run 15: two IPv6 restores, the agent's output chain dropping job 1's data SYN-ACKs,
`tcpdump -Q in` on the media server (the agent's direction alone). `announced_not_used`
said "fd77::1's SYNs were dropped on the way or never sent", the SYN-ACKs in a
parenthesis only, and its fix opened the way in alone, not the answers' way out of the
agent, where the lab dropped them (flowcheck.verify.answer_seen, verify.data_links).

Run 26: two jobs, job 2's callback SYNs dropped by the media server, 1.9% of the
frames deleted (job 1's alone). `capture_loss`'s fix filtered on the lossy connections'
hosts alone, a filter that drops the failing job 2 whole (flowcheck.verify.loss).

Run 19: the router dropping IPv6 control SYNs, tcpdump on the media server's veth.
`control_unanswered` said "so it may hold one direction only (tcpdump -Q in/out, a SPAN
port that sees one way)" though the router's neighbour solicitation sent to the media
server itself (frame 11) is in it (flowcheck.verify.way_back.asked_toward).

Run 10: dual-stack through a router, both hosts' `tcpdump -i any` (SLL2) merged, every
copy IPv6 (the IPv4 callback was rejected by the router, at one point only).
`capture_duplicates` said "same IP ID" and "TTL" of IPv6 packets (the words were IPv6's
only when every connection is: connections.copy_family), told one of its 26 copies (the
router's held SYN) and left the 21 marked alike within 0.5 ms unsaid, and read that
held SYN "either held by a router ... or captured at two points whose clocks disagree",
though those 21 show the two clocks agree (connections.relay_words).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import stored_records, write_records
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.answer import answer_rows

HERE = Path(__file__).resolve().parents[1] / "captures" / "field60-matrix"
ONE_WAY = HERE / "two-ipv6-restores-data-synacks-dropped-by-agent-captured-in-on-media.pcap.gz"
HELD = HERE / "dual-stack-callback-rejected-by-router-both-hosts-any-merged-sll2-held-syn.pcap.gz"


def test_a_capture_of_the_listeners_direction_names_its_answers_lost_too() -> None:
    """No answer from the announced port among the agent's packets: the media server's
    SYNs or the agent's SYN-ACKs were lost, and the fix lets the answers out."""
    analysis = shared_analysis(ONE_WAY)
    assert analysis.verdict == "fail"
    found = [f for f in analysis.findings if f.code == "announced_not_used"]
    assert [f.frames for f in found] == [[13], [143]]
    for finding in found:
        assert ("which holds only fd77::2's direction: fd77::1's SYNs or fd77::2's SYN-ACKs "
                "were dropped on the way, or the SYNs never sent (" in finding.message)
        assert ("or fd77::2's own outbound rules (a stateless drop of its SYN-ACKs) or a "
                "firewall between the hosts dropped its answers." in finding.message)
        assert ("and its answers back out (ct state established,related accept in "
                "fd77::2's output chain and on those firewalls)" in finding.fix)
    session = next(s for s in analysis.sessions if s.remote_agent == "fd77::2")
    [cause, fix] = answer_rows(session, analysis.findings)
    # Up to the either-or, never half of it (review56m: "... dropped on the way" left out
    # ", or the SYNs never sent").
    assert cause[1].endswith("which holds only fd77::2's direction"), cause[1]
    assert "and its answers back out" in fix[1]
    step4 = next(s for s in session.steps if s.step == 4)
    assert step4.status == "missing"
    assert step4.detail.endswith("fd77::1's SYNs or fd77::2's SYN-ACKs were dropped on the "
                                 "way, or the SYNs never sent")


def _copies() -> Finding:
    analysis = shared_analysis(HELD)
    assert analysis.verdict == "fail"
    assert [f.code for f in analysis.findings if str(f.severity) == "error"] == [
        "callback_refused"]
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    return copies


def test_ipv6_copies_of_a_dual_stack_capture_are_said_in_ipv6_words() -> None:
    """Every copy IPv6 (the IPv4 callback at one point only): no IP ID, hop limits."""
    copies = _copies()
    assert copies.message.startswith(
        "26 of the 50 TCP packets and ICMP errors compared are copies of a packet "
        "captured before them in the same direction (same TCP header and payload): ")
    assert "at a hop limit one lower" in copies.message
    assert "IP ID" not in copies.message and "TTL" not in copies.message + copies.fix


def test_a_held_copy_among_near_ones_is_the_routers_not_a_clock() -> None:
    """21 copies marked leaving one host and arriving at the other within 0.5 ms: told
    with the held one, whose lateness the two clocks' agreement leaves to the router."""
    copies = _copies()
    assert ("22 of them were told by where they were captured, 21 within 0.5 ms of the "
            "original and 1 later (1.02 s after it): the file's Linux cooked headers mark "
            "each original as sent by the host that captured it (outgoing) and its copy as "
            "arriving at the host that captured it, at a " in copies.message)
    assert "two hosts' captures (tcpdump -i any on each) merged into one file" in copies.message
    assert ("1 of them over 1 s after the original with its TSval: held by a router while "
            "it resolved the next hop's link-layer address (a neighbour queue keeps them up "
            "to 3 s), sent once: the copies within 0.5 ms of their originals show the two "
            "captures' clocks agree." in copies.message)
    assert "clocks disagree" not in copies.message


LOSSY = HERE / "two-jobs-callback-syns-dropped-by-media-captured-on-agent-sniffer-loss.pcap.gz"


def test_the_sniffers_fix_filters_on_every_jobs_hosts() -> None:
    """Only job 1's connections lost bytes; the filter the fix gives keeps job 2's
    agent, whose callback failed, too."""
    analysis = shared_analysis(LOSSY)
    assert analysis.verdict == "fail"
    assert [f.code for f in analysis.findings if str(f.severity) == "error"] == [
        "callback_unanswered"]
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "20,332 B of TCP payload in 16 gaps" in loss.message
    assert "10.77.0.3" not in loss.message  # its connections lost nothing
    assert ("filter on the backup hosts only (tcpdump -w job.pcap 'host 10.77.0.1 or host "
            "10.77.0.2 or host 10.77.0.3')" in loss.fix)


PROBED = HERE / "ipv6-routed-control-syns-dropped-by-router-on-media.pcap.gz"


def test_a_probe_sent_to_the_originator_shows_the_way_back_captured() -> None:
    """Nothing of the agent's, but the router's neighbour solicitation sent to the media
    server itself (frame 11): the capture holds frames toward it, no one-way capture."""
    analysis = shared_analysis(PROBED)
    assert analysis.verdict == "fail"
    [unanswered] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert unanswered.code == "control_unanswered" and unanswered.frames == [5, 7, 8, 9]
    assert ("The capture holds no packet at all from fd77:1::2 to fd77::1, though it holds "
            "one travelling toward fd77::1 (fe80::7499:faff:fe7f:5160's neighbour "
            "solicitation sent to it, frame 11), which a capture of fd77::1's outgoing "
            "packets alone (tcpdump -Q out, a SPAN port that sees one way) would not: a "
            "SYN-ACK, RST or ICMP unreachable coming back to fd77::1 past this capture "
            "point would be in it, and none is." in unanswered.message)
    assert "may hold one direction only" not in unanswered.message


ETHERNET = 1
SOLICITED_NODE = bytes.fromhex("ff0200000000000000000001ff000001")  # fd77::1's group
IPV6_DST = slice(14 + 24, 14 + 40)  # an IPv6 header's destination, after Ethernet's


def test_a_solicitation_to_a_multicast_group_is_no_such_proof(tmp_path: Path) -> None:
    """The same probe sent to fd77::1's solicited-node group instead: every port of the
    segment gets that, so it proves nothing of the way back (the words before)."""
    kind, records = stored_records(PROBED)
    assert kind == ETHERNET and records[10].data[IPV6_DST] == bytes.fromhex(
        "fd770000000000000000000000000001")
    changed = list(records)
    frame = records[10].data
    changed[10] = replace(records[10], data=frame[:IPV6_DST.start] + SOLICITED_NODE
                          + frame[IPV6_DST.stop:])
    written = write_records(tmp_path / "multicast.pcap", ETHERNET, changed)
    config = build_config(load_file(PROBED.with_name(PROBED.name[:-len(".pcap.gz")]
                                                     + ".toml")))
    analysis = analyze(read_traffic([str(written)], config), config)
    [unanswered] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert ("The capture holds no packet at all from fd77:1::2 to fd77::1, so it may hold "
            "one direction only" in unanswered.message)
    assert "travelling toward" not in unanswered.message
