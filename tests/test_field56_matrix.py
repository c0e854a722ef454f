"""Field check 56's lab matrix (captures/field56-matrix, README.md there), seed 119.

Run 18: `tcpdump -i any` on the router of a dual-stack job; the media server's first
control SYN held 1.03 s in the router's neighbour queue, its copy marked leaving the
router one hop lower; `capture_duplicates` said "either held by a router that long ...
or captured at two points whose clocks disagree by as much", though the file's Linux
cooked marks show one router's capture, on one clock.
Run 12: `tcpdump -i any` on the agent, its input chain dropping ndmjob's control SYNs;
`control_unanswered`'s fix ended "A capture on 10.77.0.2, or of both directions, shows
which way is lost", though the marks place this capture there.
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field56-matrix"
HELD = HERE / "router-any-callback-syns-dropped-held-syn-stopped-dual-stack.pcap.gz"
ARRIVED = HERE / "ndmjob-control-syns-dropped-by-agent-any-on-agent-sll.pcap.gz"


def test_router_any_held_syn_is_said_held_by_the_router() -> None:
    """The held SYN's copy reads as the router's neighbour queue alone; the verdict stays
    inconclusive (the callback SYN 0.041 s before the capture's last packet)."""
    analysis = shared_analysis(HELD)
    assert analysis.verdict == "inconclusive"
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert copies.message.startswith("22 of the 41 TCP packets compared are copies")
    assert ("1 of them over 1 s after the original with its TSval: held by a router while "
            "it resolved the next hop's link-layer address" in copies.message)
    assert "clocks disagree" not in copies.message
    assert [f.code for f in analysis.findings if f.severity.value == "warning"] == [
        "capture_ended_early"]


def test_control_syns_marked_arriving_on_the_agent() -> None:
    """The 9 SYNs marked arriving at the capture host, at TTL 64, nothing else: the fix
    places the capture on 10.77.0.2 (or the first router toward it) and the drop in its
    own firewall, -Q in aside."""
    analysis = shared_analysis(ARRIVED)
    assert analysis.verdict == "fail"
    [finding] = analysis.findings
    assert finding.code == "control_unanswered"
    assert "sent 9 SYNs" in finding.message
    assert ("the capture was taken on 10.77.0.2, or on the first router from 10.77.0.1 "
            "toward it, which passed none of them on" in finding.fix)
    assert "shows which way is lost" not in finding.fix
