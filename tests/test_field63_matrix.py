"""Field check 63's lab matrix (captures/field63-matrix, README.md there), seed 126.

Run 2: both hosts' `tcpdump -i any -Q out` (SLL2) merged, M's input dropping
ndmjob's data SYNs: `data_unanswered`'s fix said "If this capture was taken on 10.77.0.1,
its own firewall drops the SYNs or its SYN-ACKs" of a capture there that holds its
leaving packets alone (flowcheck.verify.opening.leaving_only).

Run 17: both hosts' `tcpdump -i any -s 96` (SLL2) merged, the agent's input chain
rejecting the control SYNs with ICMPv6 port unreachable, its quotes cut before the
ports; the agent sent no TCP. Each SYN marked leaving fd77::1 and arriving at the host it
was addressed to at one hop limit, each reject from fd77::2 marked leaving that host.
`control_refused` said "a firewall on fd77::2, or a bridge (transparent) firewall in
front of fd77::2 answering in its name, ... nothing in the capture tells them apart (a
capture on fd77::2 itself holds its own reject leaving it)": the marks rule the bridge
out (it would have kept the SYNs from that host and sent its reject without passing
it), not a router rejecting in fd77::2's name, which no TCP of fd77::2's own rules out
(flowcheck.verify.own_reject.merged_reject_sent). On bytes: the file, and the file with
the rejects' leaving copies marked arriving (no capture host shows one leaving: the
bridge stays named).
"""

from __future__ import annotations

from pathlib import Path

from pcap_records import rejects_made_arriving
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

HERE = Path(__file__).resolve().parents[1] / "captures" / "field63-matrix"
_STEM = ("tls-start-dual-control-rejected-port-unreachable-by-agent-both-hosts-any-merged-"
         "sll2-snap96")
MERGED = HERE / f"{_STEM}.pcap.gz"
TOML = HERE / f"{_STEM}.toml"


def _refused(analysis: Analysis) -> Finding:
    assert analysis.verdict == "fail"
    [refused] = [f for f in analysis.findings if f.code == "control_refused"]
    assert refused.frames == [7, 9, 15, 17]  # M's copies of the SYNs, A's of its rejects
    return refused


def test_a_merge_holding_the_reject_leaving_the_syns_host_rules_the_bridge_out() -> None:
    """The SYNs marked arriving at the host they were addressed to and the reject marked
    leaving it: fd77::2's firewall or a router's in its name, no bridge firewall."""
    refused = _refused(shared_analysis(MERGED))
    assert ("a firewall on fd77::2, or a router in front of fd77::2 rejecting in its name, "
            "rejects it (" in refused.message)
    assert ("this capture merges two hosts' captures: its Linux cooked headers mark each "
            "SYN from fd77::1 sent by one capture host and arriving addressed to the other "
            "at one hop limit, and the reject, from fd77::2's address, sent by that other, "
            "where a bridge firewall in front of fd77::2 would have kept the SYNs from it "
            "and sent its own back without passing it; a capture on fd77::2 marks them so, "
            "and so does one on a router that rejects in fd77::2's name" in refused.message)
    assert "nothing in the capture tells them apart" not in refused.message
    assert "this capture merges one taken on" not in refused.message  # not placed on fd77::2
    # The cut quote's tie names the reject's address, not the host (review 56m).
    assert "sent from fd77::2's own address 0.0172 ms after the SYN" in refused.message
    assert "fd77::2 itself" not in refused.message
    assert ("the reject rule is in fd77::2's firewall or in a router in front of fd77::2 "
            "that rejects in its name" in refused.fix)
    assert "bridge" not in refused.fix


def test_rejects_no_capture_host_sent_keep_the_bridge(tmp_path: Path) -> None:
    """Every copy of the rejects marked arriving: nothing shows one leaving the host the
    SYNs arrived at, so a bridge firewall in front of fd77::2 stays named."""
    written = rejects_made_arriving(MERGED, tmp_path / "merged.pcap", 2)
    config = build_config(load_file(TOML))
    refused = _refused(analyze(read_traffic([str(written)], config), config))
    assert ("a firewall on fd77::2, or a bridge (transparent) firewall in front of fd77::2 "
            "answering in its name, rejects it" in refused.message)
    assert "nothing in the capture tells them apart" in refused.message
    assert "router in front of fd77::2 rejecting" not in refused.message


OUT_ONLY = HERE / "ndmjob-data-syns-dropped-by-media-both-hosts-any-out-merged-sll2.pcap.gz"


def test_a_merge_of_leaving_packets_alone_asks_for_both_on_the_responder() -> None:
    """Run 2: both hosts' `tcpdump -i any -Q out` merged, every packet marked outgoing.
    The file holds 10.77.0.1's own capture, but of its leaving packets only: whether the
    SYNs reached it cannot be seen, so no conditional drop on its own firewall."""
    analysis = shared_analysis(OUT_ONLY)
    assert analysis.verdict == "fail"
    [unanswered] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert unanswered.frames == [12, 14, 15, 16, 17, 18, 19, 20, 21]
    assert ("This capture's Linux cooked headers mark every SYN, FIN and RST in it sent by "
            "the host that captured it (outgoing), none arriving (tcpdump -Q out), so not "
            "whether the SYNs reached 10.77.0.1: a capture of both directions on 10.77.0.1 "
            "shows it (there, SYNs arriving with no SYN-ACK, RST or ICMP leaving are its own "
            "firewall's drop)." in unanswered.fix)
    assert "If this capture was taken on 10.77.0.1" not in unanswered.fix
