"""A control connection that stalled at its first bytes (field check trial 34 D4): the
media server drops every non-SYN packet to its media range, which holds its own control
connection's source port, so the agent's greeting is resent and never acknowledged:
`control_stalled` with the later steps not reached (`not_applicable`: nothing after the
opening was due) once the capture shows the connection close, else unknown, not
`step_missing` for the callback with
a capture-filter hint (the capture had no filter).

The stored capture's whole result is a regress expectation
(captures/trial34-ack-dropped); here the reading and its limit, on copies changed by
scapy: a greeting the media server acknowledged is no stall at the opening.
"""

from __future__ import annotations

from pathlib import Path

from pcap_records import read_records, write_records
from scapy.all import IP, TCP
from scapy_files import read_packets, write_packets
from stored import errors, stored_analysis

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

DIR = Path(__file__).resolve().parent.parent / "captures" / "trial34-ack-dropped"
NAME = "media-drops-nonsyn-to-media-range"


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(DIR / f"{NAME}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def test_greeting_never_acknowledged_is_control_stalled_not_a_missing_callback() -> None:
    analysis = _analyze(DIR / f"{NAME}.pcap")
    assert [f.code for f in analysis.findings if f.severity == "error"] == ["control_stalled"]
    [finding] = analysis.findings
    assert "stalled at its first bytes" in finding.message
    assert "capture filter" not in finding.message
    assert finding.fix.startswith("On 10.77.0.1 (its input chain)")
    assert {4, 12} <= set(finding.frames)  # the greeting, its last resend
    steps = analysis.sessions[0].steps
    assert steps[0].status == "ok"
    # The capture ended 7.3 s in, the greeting still resent, the connection open: a
    # later resend may have got through, so the later steps stay unknown (docs/json.md
    # `status`: a capture that ended before the stop), not "not reached".
    assert [s.status for s in steps[1:]] == ["unknown"] * 4
    assert all("the capture ended with the control connection still open, stalled at its "
               "first bytes" in s.detail for s in steps[1:])
    assert steps[1].detail.startswith("unknown: no callback in the capture, and whether it "
                                      "came after the capture's end cannot be seen")
    assert steps[2].detail.startswith("unknown: whether a backup or restore started cannot")
    assert "control_stalled" in steps[1].detail
    assert analysis.sessions[0].kind_unknown  # no browse claimed


def test_an_opening_stall_is_not_reached_only_once_the_close_is_captured(
        tmp_path: Path) -> None:
    """captures/lab/media-range-ack-dropped: the greeting resent 8 times, then the media
    server's FIN at 30 s (frame 13): steps 2-5 not reached. The same capture cut before
    that FIN (26.7 s, the last resend its last packet) shows no stop: unknown, however
    long the resends went on (review 63f: the cut read "not reached")."""
    case = DIR.parent / "lab" / "media-range-ack-dropped"
    config = case.with_suffix(".toml")
    whole = stored_analysis(case.with_suffix(".pcap"), config_path=config)
    assert [e.code for e in errors(whole)] == ["control_stalled"]
    assert [s.status for s in whole.sessions[0].steps[1:]] == ["not_applicable"] * 4
    linktype, records = read_records(case.with_suffix(".pcap"))
    cut = write_records(tmp_path / "before-fin.pcap", linktype, records[:12])
    analysis = stored_analysis(cut, config_path=config)
    assert [e.code for e in errors(analysis)] == ["control_stalled"]
    steps = analysis.sessions[0].steps
    assert [s.status for s in steps[1:]] == ["unknown"] * 4, [s.detail for s in steps]
    assert "the capture ended with the control connection still open" in steps[1].detail


def test_a_greeting_the_media_server_acknowledged_is_no_opening_stall(
        tmp_path: Path) -> None:
    """The media server's ACK of the greeting (ack 61) after its first copy: the resends
    that follow are ACKs lost on the way, not a connection that never got a byte
    through; whatever the reading, not this one."""
    packets = list(read_packets(str(DIR / f"{NAME}.pcap")))
    ack = packets[2].copy()  # the media server's ACK of the handshake
    ack[TCP].ack = packets[3][TCP].seq + len(packets[3][TCP].payload)
    del ack[IP].chksum, ack[TCP].chksum
    ack.time = packets[3].time + 0.0001
    path = tmp_path / "acked.pcap"
    write_packets(str(path), [*packets[:4], ack, *packets[4:]])
    analysis = _analyze(path)
    assert not any("stalled at its first bytes" in f.message for f in analysis.findings)


def test_a_stall_whose_receivers_acks_the_capture_lacks_is_still_the_opening_stall(
        tmp_path: Path) -> None:
    """Review 63f: the same capture without the media server's handshake ACK (frame 3,
    its only packet after the SYN: the sniffer's loss, as the matrix's `loss` form
    deletes frames) read `step_missing` for the callback with the capture-filter hint,
    trial 34's first wrong reading. The agent's 6 resends still show no ACK reached it:
    control_stalled, its words saying the media server's packets after its SYN are not
    in the capture, not that one direction was captured."""
    linktype, records = read_records(DIR / f"{NAME}.pcap")
    path = write_records(tmp_path / "no-ack.pcap", linktype, [*records[:2], *records[3:]])
    analysis = _analyze(path)
    assert [e.code for e in errors(analysis)] == ["control_stalled"]
    message = " ".join(errors(analysis)[0].message.split())
    assert "It stalled at its first bytes" in message
    assert "no packet of the media server 10.77.0.1 on this connection after its SYN" in message
    assert "one direction captured" not in message
    steps = analysis.sessions[0].steps
    assert [s.status for s in steps[1:]] == ["unknown"] * 4  # ended open, as the whole
