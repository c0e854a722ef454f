"""Field check 62's lab matrix (captures/field62-matrix, README.md there), seed 125.

Run 6: two TLS restores over IPv6, `tcpdump -Q out` on the agents' host, job 2's agent
SIGKILLed mid-transfer: the file holds the agents' packets alone. `data_reset` said the
data connection was reset "after carrying 0 B agent -> media server and 0 B media server
-> agent" while the agent's ACKs in the file acknowledge 1245184 B the media server sent
it (flowcheck.verify.carried: a direction the capture lacks said by its receiver's ACKs).

Run 23: `tcpdump -i any -Q out` (SLL2) on the agent's host, its input chain dropping the
control SYNs: the file's 5 packets (neighbour discovery) all marked sent by the capture
host. `no_control_session` said "the wrong interface, a filter, or stopped before the
job started" of a capture whose marks show one direction only
(flowcheck.verify.capture_contents, decode.skipped's cooked counts). On bytes: the same
packets marked arriving (`-Q in`), and one of them arriving among the rest (no
direction).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import stored_records, write_records
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

HERE = Path(__file__).resolve().parents[1] / "captures" / "field62-matrix"
KILLED = HERE / "two-tls-start-ipv6-restore-agent-killed-on-agent-out-pcapng.pcapng.gz"


def test_a_reset_of_a_direction_not_captured_says_what_its_receiver_acknowledged() -> None:
    """The media server's data in the agent's ACKs, not "0 B media server -> agent"."""
    analysis = shared_analysis(KILLED)
    assert analysis.verdict == "fail"
    [reset] = [f for f in analysis.findings if f.code == "data_reset"]
    assert reset.frames == [4681, 4683]
    assert ("was reset by the agent fd77::3 (RST, frame 4681) after carrying 0 B agent -> "
            "media server and 1,245,184 B media server -> agent (or 1,245,183 B and a FIN), "
            "acknowledged by the agent (the capture holds no packet of that direction), "
            "before any FIN the capture holds and with no normal halt"
            in reset.message)
    assert "0 B media server -> agent" not in reset.message


OUT_ONLY = HERE / "dual-stack-control-syns-dropped-by-agent-any-on-agent-out-sll2.pcap.gz"
LINUX_SLL2, SLL2_TYPE = 276, 10  # the link type; its header's packet type byte
PACKET_HOST, PACKET_OUTGOING = 0, 4


def _no_session(finding: list[Finding]) -> Finding:
    [found] = [f for f in finding if f.code == "no_control_session"]
    return found


def test_a_capture_its_marks_show_sent_only_says_one_direction() -> None:
    """Every packet marked sent by the capture host: one direction, not only "a filter"."""
    analysis = shared_analysis(OUT_ONLY)
    assert analysis.verdict == "inconclusive"
    found = _no_session(analysis.findings)
    assert ("(the sniffer saw none of the job's traffic: its Linux cooked headers mark every "
            "one of its 5 packets sent by the capture host (outgoing): it was taken of one "
            "direction (tcpdump -Q out), without the packets that arrive at the host, a "
            "connection's SYN among them, or nothing arrived at the host while it ran; or "
            "it missed the job: the wrong interface, a filter, or stopped before the job "
            "started)." in found.message)
    assert found.fix.startswith("If it was taken with tcpdump -Q, capture both directions "
                                "(without -Q) where it was taken, or on the media server's "
                                "or the agent's interface toward the other, while the job "
                                "starts. Check --ndmp-port")


def _marked(tmp_path: Path, marks: list[int]) -> Finding:
    """OUT_ONLY's packets with these packet types, analyzed: its no_control_session."""
    kind, records = stored_records(OUT_ONLY)
    assert kind == LINUX_SLL2 and len(records) == len(marks)
    assert all(r.data[SLL2_TYPE] == PACKET_OUTGOING for r in records)
    changed = [replace(r, data=r.data[:SLL2_TYPE] + bytes([mark]) + r.data[SLL2_TYPE + 1:])
               for r, mark in zip(records, marks, strict=True)]
    written = write_records(tmp_path / "marked.pcap", LINUX_SLL2, changed)
    config = build_config(load_file(OUT_ONLY.with_name(OUT_ONLY.name[:-len(".pcap.gz")]
                                                       + ".toml")))
    return _no_session(analyze(read_traffic([str(written)], config), config).findings)


def test_a_capture_its_marks_show_arriving_only_says_one_direction(tmp_path: Path) -> None:
    """The same packets all marked arriving at the capture host: `-Q in`'s."""
    found = _marked(tmp_path, [PACKET_HOST] * 5)
    assert ("its Linux cooked headers mark every one of its 5 packets arriving at the "
            "capture host: it was taken of one direction (tcpdump -Q in), without the "
            "packets that the host sends, a connection's SYN among them, or the host sent "
            "nothing while it ran" in found.message)
    assert found.fix.startswith("If it was taken with tcpdump -Q, capture both directions")


@pytest.mark.parametrize("at", [0, 4])
def test_marks_of_both_directions_say_no_direction(tmp_path: Path, at: int) -> None:
    """One packet marked arriving among the sent ones: both directions captured."""
    marks = [PACKET_OUTGOING] * 5
    marks[at] = PACKET_HOST
    found = _marked(tmp_path, marks)
    assert "one direction" not in found.message
    # The agent's own neighbour advertisement (frame 1) places the capture on its way
    # (verify.never_reached).
    assert ("(the sniffer saw none of the job's traffic: the wrong interface, a filter, or "
            "stopped before the job started; or the job's packets never reached the capture "
            "point, dropped before it, by the sending host's own output rules or a router "
            "or firewall on the way: it holds the agent fd77::2's own packets (a neighbour "
            "advertisement, frame 1)" in found.message), found.message
    assert "capture both directions" not in found.fix
