"""A data connection reset mid-transfer that the capture cannot judge, and one whose
receiver closed it mid-transfer before resetting it. Both passed (a new-user trial,
captures/ndmjob-idle/idle-rst-65s-agent.pcap.gz): a reset the capture ended too soon
after "said nothing", and a RST after a FIN was taken for the tidy end of a finished
transfer, although the FIN came from the data's receiver while the sender was still
sending (its TCP answers data arriving after its close with a RST, RFC 1122 4.2.2.13).

Built from captures/lab/clean-3-resources.pcap as tests/test_verify_data_reset.py:
resource 2's data connection (the media server 10.77.0.1:5003 -> the agent
10.77.0.2:6002, a backup: the agent sends) is cut after frame 300; its later packets and
everything after are dropped.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from scapy.all import IP, TCP, Packet
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NAME = "clean-3-resources"
CUT = 300
DATA = {5003, 6002}  # resource 2's data connection
AGENT_DATA, AGENT_CONTROL = 6002, 10000


def _of_data(packet: Packet) -> bool:
    return TCP in packet and {packet[TCP].sport, packet[TCP].dport} == DATA


def _last_from(head: list[Packet], port: int, data: bool = True) -> Packet:
    return [p for p in head if TCP in p and p[TCP].sport == port
            and (_of_data(p) or not data)][-1]


def _segment(template: Packet, flags: str, seq: int, ack: int, after: Packet,
             seconds: str, payload: bytes = b"") -> Packet:
    """A copy of template with these flags, numbers and payload, `seconds` after `after`."""
    packet = template.copy()
    packet[TCP].remove_payload()
    if payload:
        packet[TCP].add_payload(payload)
    packet[TCP].flags, packet[TCP].seq, packet[TCP].ack = flags, seq, ack
    del packet[IP].len, packet[IP].chksum, packet[TCP].chksum
    packet.time = after.time + Decimal(seconds)
    return packet


def _media_closes(head: list[Packet]) -> list[Packet]:
    """The media server (the receiver) closes the data connection (FIN), the agent sends
    one more segment, the media server answers it with a RST."""
    media = [p for p in head if _of_data(p) and p[TCP].sport == 5003][-1]
    agent = _last_from(head, AGENT_DATA)
    fin = _segment(media, "FA", media[TCP].seq, media[TCP].ack, head[-1], "0.0002")
    more = _segment(agent, "A", agent[TCP].seq + len(agent[TCP].payload), fin[TCP].seq + 1,
                    fin, "0.0002", bytes(1448))
    rst = _segment(media, "R", fin[TCP].seq + 1, 0, more, "0.0001")
    return [fin, more, rst]


def _agent_rst(head: list[Packet]) -> Packet:
    last = _last_from(head, AGENT_DATA)
    return _segment(last, "R", last[TCP].seq + len(last[TCP].payload), 0, head[-1], "0.0003")


def _later(template: Packet, after: Packet, seconds: str) -> Packet:
    """A SYN between two other hosts: the capture went on until then."""
    later = _segment(template, "S", 1, 0, after, seconds)
    later[IP].src, later[IP].dst = "10.77.0.9", "10.77.0.8"
    later[TCP].sport, later[TCP].dport = 40000, 22
    return later


def _analyze(tmp_path: Path, packets: list[Packet]) -> Analysis:
    path = tmp_path / "cut.pcap"
    write_packets(str(path), packets)
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _head() -> list[Packet]:
    return read_packets(LAB / f"{NAME}.pcap", CUT)


def test_a_reset_the_capture_ends_right_after_is_unknown_not_a_pass(tmp_path: Path) -> None:
    head = _head()
    analysis = _analyze(tmp_path, [*head, _agent_rst(head)])
    step = analysis.sessions[0].steps[4]
    assert step.status == "unknown"
    assert step.detail.startswith("unknown: the data connection was reset (RST, frame 301) "
                                  "0 ms before the capture ended: whether the job halted "
                                  "normally after it is not in the capture; ")
    assert analysis.verdict == "inconclusive"
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert early.message.startswith(
        "The capture ended right after the data connection 10.77.0.1:5003 -> "
        "10.77.0.2:6002 was reset mid-transfer (RST, frame 301), with no capture time after "
        "it, before a halt of its job could be seen: whether the job halted normally after it")
    assert "data_reset" not in {f.code for f in analysis.findings}


def test_the_receiver_closing_mid_transfer_then_resetting_is_data_reset(
        tmp_path: Path) -> None:
    """The FIN came from the media server while the agent was still sending: not the
    tidy end of a finished transfer. The capture goes on 5 s, no halt comes."""
    head = _head()
    closing = _media_closes(head)
    analysis = _analyze(tmp_path, [*head, *closing, _later(head[0], closing[-1], "5")])
    errors = [f for f in analysis.findings if str(f.severity) == "error"]
    assert [f.code for f in errors] == ["data_reset"] and analysis.verdict == "fail"
    assert ("; the media server 10.77.0.1 closed it mid-transfer (FIN, frame 301) while "
            "the agent 10.77.0.2 was still sending, then reset it (RST, frame 303), with no "
            "normal halt of its job after it") in errors[0].message
    assert errors[0].frames == [301, 303]
    step = analysis.sessions[0].steps[4]
    assert step.status == "failed" and "10.77.0.2:6002: the media server 10.77.0.1 closed " \
        "it mid-transfer (FIN, frame 301)" in step.detail


def test_the_receiver_closing_then_the_capture_ending_is_unknown(tmp_path: Path) -> None:
    head = _head()
    analysis = _analyze(tmp_path, [*head, *_media_closes(head)])
    step = analysis.sessions[0].steps[4]
    assert step.status == "unknown" and analysis.verdict == "inconclusive"
    assert step.detail.startswith(
        "unknown: the media server 10.77.0.1 closed the data connection mid-transfer (FIN, "
        "frame 301) while the agent 10.77.0.2 was still sending, then reset it (RST, frame "
        "303) 0 ms before the capture ended: whether the job halted normally")


def test_a_reset_after_the_senders_own_fin_is_not_a_cut_transfer(tmp_path: Path) -> None:
    """The agent (the sender) finished with its FIN and the media server reset the
    connection: a tidy-up, not a transfer cut short."""
    head = _head()
    agent = _last_from(head, AGENT_DATA)
    media = [p for p in head if _of_data(p) and p[TCP].sport == 5003][-1]
    fin = _segment(agent, "FA", agent[TCP].seq + len(agent[TCP].payload), agent[TCP].ack,
                   head[-1], "0.0002")
    rst = _segment(media, "R", media[TCP].seq, 0, fin, "0.0001")
    analysis = _analyze(tmp_path, [*head, fin, rst, _later(head[0], rst, "5")])
    assert "data_reset" not in {f.code for f in analysis.findings}
    # Not a cut transfer: step 5 is unknown only for resource 3 of the 3 configured,
    # after the capture's end with the control connection still open (trial 32).
    step = analysis.sessions[0].steps[4]
    assert step.status == "unknown"
    assert step.detail.startswith("unknown: the capture stopped during resource 2 of 3")


def test_the_control_connection_closed_after_the_reset_shows_no_halt_came(
        tmp_path: Path) -> None:
    """The agent closes the control connection 0.5 s after the reset and the capture
    ends: no halt can come after that, so the capture shows the transfer was cut short
    (trial 10, idle-rst-long-agent: it read control_closed)."""
    head = _head()
    closing = _media_closes(head)
    control = _last_from(head, AGENT_CONTROL, data=False)
    fin = _segment(control, "FA", control[TCP].seq + len(control[TCP].payload),
                   control[TCP].ack, closing[-1], "0.5")
    analysis = _analyze(tmp_path, [*head, *closing, fin])
    errors = [f for f in analysis.findings if str(f.severity) == "error"]
    assert [f.code for f in errors] == ["data_reset"]
    assert analysis.sessions[0].steps[4].status == "failed"
