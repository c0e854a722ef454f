"""A data connection reset on the data sender's side only, read from the receiver's side
(new-user trial 30, D2).

A router's forward chain rejected a backup's data connection once 1.5 MB had passed
(nftables `reject with tcp reset`): it sent a RST to the agent, the data's sender, in the
media server's name, and none to the media server. The media server's capture shows the
data stop, 23.4 s of silence, then its FIN on the data connection answered by the
agent's RST (no ACK: its TCP no longer had the connection, RFC 9293 3.10.7.1), no
NOTIFY_DATA_HALTED, then the control connection's close. It read step 5 (here 4) `ok`
and only `control_closed` ("job engine stopped, restarted or crashed"); it is
`data_reset`, the control connection's close its consequence. The same RST answering a
FIN after the job halted (normally or not) is the end of a halted transfer, no
`data_reset` (flowcheck.verify.abortive_close); after an abnormal halt step 5 still fails
on it, naming it: the transfer was cut (new-user trial 67 item 4,
flowcheck.verify.mid_transfer_resets.halted_drops).

captures/trial30-unseen-reset/data-reset-unseen-media.pcap.gz (README there).
"""

from __future__ import annotations

import gzip
import struct
from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import segment
from scapy.all import IP, TCP, Raw
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.model import Step
from flowcheck.pipeline import Analysis, analyze, read_traffic

FOLDER = Path(__file__).resolve().parent.parent / "captures" / "trial30-unseen-reset"
NAME = "data-reset-unseen-media"
MEDIA, AGENT = 5007, 10000  # the control connection's ports
DATA_FIN = 1698  # the media server's FIN on the data connection
CONTROL_FIN = 1700


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(FOLDER / f"{NAME}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _data_step(analysis: Analysis) -> Step:
    [session] = analysis.sessions
    [step] = [s for s in session.steps if s.name == "backup or restore data flows"]
    return step


def test_a_reset_the_media_server_never_saw_is_data_reset() -> None:
    analysis = _analyze(FOLDER / f"{NAME}.pcap.gz")
    errors = [f for f in analysis.findings if str(f.severity) == "error"]
    assert [f.code for f in errors] == ["data_reset"] and analysis.verdict == "fail"
    [reset] = errors
    assert reset.frames[:2] == [DATA_FIN, DATA_FIN + 1]
    assert "the agent 10.77.1.2's side had already dropped it" in reset.message
    assert ("its RST (frame 1699) answered the FIN of the media server 10.77.0.1 "
            "(frame 1698) after 23.4 s of silence") in reset.message
    assert "a reset the media server 10.77.0.1 never saw" in reset.message
    assert "(FIN, frame 1700)" in reset.message  # the control close: its consequence
    assert "firewall or IPS between 10.77.1.2 and 10.77.0.1" in reset.fix
    assert "the agent 10.77.1.2's NDMP service log" in reset.fix
    step = _data_step(analysis)
    assert step.status == "failed" and "answered the FIN" in step.detail


def _with_halt(tmp_path: Path, reason: int) -> Path:
    """The stored capture with the agent's NOTIFY_DATA_HALTED (reason: 1 SUCCESSFUL, 2
    ABORTED) 1 s after the last DATA_GET_STATE exchange, the media server's ACK of it,
    and the later control packets' sequence and ACK numbers moved past it."""
    plain = tmp_path / f"{NAME}.pcap"
    plain.write_bytes(gzip.decompress((FOLDER / f"{NAME}.pcap.gz").read_bytes()))
    packets = list(read_packets(str(plain)))
    reply = packets[1696 - 1]  # the agent's DATA_GET_STATE reply
    assert reply[TCP].sport == AGENT and len(reply[TCP].payload) > 0
    seq = reply[TCP].seq + len(reply[TCP].payload)
    ack = reply[TCP].ack
    ts = Decimal(str(packets[1697 - 1].time)) + 1
    body = struct.pack(">IIIIIIII", 0x80000000 | 28, 900, 0, 0, 0x501, 0, 0, reason)
    halt = segment(reply, "PA", seq, ack, ts) / Raw(body)
    acked = segment(packets[1697 - 1], "A", ack, seq + len(body), ts + Decimal("0.00002"))
    for packet in packets[CONTROL_FIN - 1:]:
        if TCP not in packet or {packet[TCP].sport, packet[TCP].dport} != {MEDIA, AGENT}:
            continue
        if packet[TCP].sport == AGENT:
            packet[TCP].seq += len(body)
        else:
            packet[TCP].ack += len(body)
        del packet[IP].chksum, packet[TCP].chksum
    path = tmp_path / f"halt-{reason}.pcap"
    write_packets(str(path), [*packets[:1697], halt, acked, *packets[1697:]])
    return path


@pytest.mark.parametrize("reason", [1, 2])
def test_the_same_close_after_a_halt_is_no_data_reset(tmp_path: Path, reason: int) -> None:
    analysis = _analyze(_with_halt(tmp_path, reason))
    assert "data_reset" not in {f.code for f in analysis.findings}
    step = _data_step(analysis)
    if reason == 1:  # SUCCESSFUL: a finished transfer
        assert step.status == "ok"
    else:  # ABORTED: the agent's bare RST answering the FIN names the cut
        assert step.status == "failed" and "answered the FIN" in step.detail
        assert "its job had halted with ABORTED" in step.detail


def test_its_times_after_a_clock_set_back_read_signed(tmp_path: Path) -> None:
    """The stored capture with its clock set back 5 s at frame 1693, the agent's last
    data packet, the user's way (editcap -r the two pieces, editcap -t -5 the second,
    mergecap -a): that packet is stamped 3.461 s before the capture's first. The message
    and the fix read "+-3.461s" (unseen_reset wrote "+{x:.3f}s"); now "-3.461s"."""
    import subprocess

    stored = FOLDER / f"{NAME}.pcap.gz"
    head, tail, moved = (tmp_path / f"{n}.pcap" for n in ("head", "tail", "moved"))
    for path, frames in ((head, "1-1692"), (tail, "1693-2000")):
        subprocess.run(["editcap", "-F", "pcap", "-r", str(stored), str(path), frames],
                       check=True, capture_output=True)
    subprocess.run(["editcap", "-t", "-5", str(tail), str(moved)], check=True,
                   capture_output=True)
    stepped = tmp_path / "stepped.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-a", "-w", str(stepped), str(head),
                    str(moved)], check=True, capture_output=True)
    analysis = _analyze(stepped)
    [reset] = [f for f in analysis.findings if f.code == "data_reset"]
    assert "(its last packet at -3.461s, every byte acknowledged" in reset.message
    assert "about -3.461s, and see" in reset.fix
    assert "+-" not in reset.message + reset.fix
