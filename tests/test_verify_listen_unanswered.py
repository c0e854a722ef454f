"""A DATA_LISTEN the agent never answers, while the control connection goes on: step 3
missing, step_missing naming the request and the agent's log. A later resource's
unanswered DATA_LISTEN passed (the earlier announcements made step 3 ok); the first
one's step_missing cited the control handshake and said to capture the whole job (a
new-user trial).

Built from captures/lab/clean-3-resources.pcap by taking a DATA_LISTEN reply out of
the agent's stream as if it had never been sent: the agent's later sequence numbers
and the media server's later ACK numbers move back by its length, so the capture shows
no hole (a reply lost by the sniffer leaves one, and is judged as capture loss).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tshark_fork
from scapy.all import IP, TCP
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NAME = "clean-3-resources"


def _listen_replies() -> list[int]:
    return [int(n) for (n,) in tshark_fork.fields(
        LAB / f"{NAME}.pcap", "ndmp.msg==0x409 && ndmp.msg_type==1", "frame.number")]


def _never_sent(tmp_path: Path, reply: int) -> Path:
    packets = list(read_packets(str(LAB / f"{NAME}.pcap")))
    gone = packets[reply - 1]
    length = len(gone[TCP].payload)
    ports = {gone[TCP].sport, gone[TCP].dport}
    out = []
    for number, packet in enumerate(packets, 1):
        if number == reply:
            continue
        if number > reply and TCP in packet and {packet[TCP].sport, packet[TCP].dport} == ports:
            packet = packet.copy()
            if packet[TCP].sport == gone[TCP].sport:
                packet[TCP].seq = (packet[TCP].seq - length) & 0xFFFFFFFF
            elif packet[TCP].flags & 0x10:
                packet[TCP].ack = (packet[TCP].ack - length) & 0xFFFFFFFF
            del packet[IP].chksum, packet[TCP].chksum
        out.append(packet)
    path = tmp_path / f"no-reply-{reply}.pcap"
    write_packets(str(path), out)
    return path


@pytest.mark.parametrize("resource", [1, 3])
def test_listen_never_answered_is_step_3_missing(tmp_path: Path, resource: int) -> None:
    replies = _listen_replies()
    request = replies[resource - 1] - 1  # the request is the frame before its reply
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    analysis = analyze(read_traffic([str(_never_sent(tmp_path, replies[resource - 1]))],
                                    config), config)
    assert "capture_loss" not in {f.code for f in analysis.findings}
    [finding] = [f for f in analysis.findings if f.code == "step_missing"]
    assert (f"the DATA_LISTEN request (frame {request}) was never answered by 10.77.0.2, "
            "although the control connection went on after it") in finding.message
    assert finding.frames == [request]
    assert "log of the NDMP service on 10.77.0.2" in finding.fix
    assert analysis.sessions[0].steps[2].status == "missing"
    assert analysis.verdict == "fail"
