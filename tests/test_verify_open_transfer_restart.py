"""The open transfer rule's "started again" (flowcheck.verify.open_transfer): a later
DATA_START_* ends the earlier resource's transfer only when the data service took it
(NDMP v4 DATA_START_*: it starts only from IDLE, after the earlier run halted). A start
refused (its reply's error, NDMP_ILLEGAL_STATE_ERR while the earlier run is ACTIVE)
proves nothing: the earlier transfer, still open at the capture's end with its data
flowing, stays unknown. A Backup Exec 9 job built with struct (tests/many_sessions.py):
its data connection carries the agent's data to the capture's end; between its
segments the DMA announces a second resource and starts it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from capture_factory import pcap_bytes
from many_sessions import AGENT, AGENT_RANGE, MEDIA, MEDIA_RANGE, _Conn, backup_control
from test_ndmp_wire import REPLY, REQUEST, msg, u32, v4_tcp_addr, xdr_string

from flowcheck.cli.main import run
from flowcheck.ndmp.protocol import ERROR_NAMES

DATA_LISTEN, DATA_START_BACKUP = 0x409, 0x401
ILLEGAL_STATE = ERROR_NAMES.index("NDMP_ILLEGAL_STATE_ERR")


def _backup_opened(out: list[tuple[float, bytes]]) -> tuple[_Conn, _Conn, float]:
    """A backup's control connection (media server 5002 -> the agent's NDMP port, the
    DATA_LISTEN announcing 6001), the agent's callback (6002 -> 5001) and the data
    connection (5003 -> 6001) opened into out: (control, data, the time data begins)."""
    t = 1_700_000_000.0
    control = backup_control(out, 5002, t, 6001)
    _Conn(out, (AGENT, 6002), (MEDIA, 5001)).open(t + 0.05)
    data = _Conn(out, (MEDIA, 5003), (AGENT, 6001))
    data.open(t + 0.15)
    return control, data, t + 0.3


def restarted(error: int) -> bytes:
    """One backup whose DMA starts a second resource (DATA_LISTEN announcing port 6003,
    DATA_START_BACKUP answered with `error`) while the first's data connection (to 6001)
    still carries the agent's data, open (no FIN, no halt) at the capture's end."""
    out: list[tuple[float, bytes]] = []
    control, data, ts = _backup_opened(out)
    for k in range(200):
        ts += 0.001
        data.data(ts, "resp", bytes(1000))
        data._send(ts + 0.0001, "orig", 0x10)  # the receiver's ACK
        if k == 100:
            control.data(ts + 0.0002, "orig", msg(5, REQUEST, DATA_LISTEN, u32(1)))
            control.data(ts + 0.0003, "resp", msg(5, REPLY, DATA_LISTEN,
                                                  u32(0) + v4_tcp_addr((AGENT, 6003)),
                                                  reply_sequence=5))
            control.data(ts + 0.0004, "orig", msg(6, REQUEST, DATA_START_BACKUP,
                                                  xdr_string("dump") + u32(0)))
            control.data(ts + 0.0005, "resp", msg(6, REPLY, DATA_START_BACKUP, u32(error),
                                                  reply_sequence=6))
    out.sort(key=lambda item: item[0])
    return pcap_bytes(out)


@pytest.mark.parametrize("error, open_at_end", [(ILLEGAL_STATE, True), (0, False)])
def test_a_refused_start_does_not_end_the_earlier_transfer(
        error: int, open_at_end: bool, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "restarted.pcap"
    path.write_bytes(restarted(error))
    run(["analyze", str(path), "--format", "json", "--media-range", MEDIA_RANGE,
         "--agent-range", AGENT_RANGE])
    document = json.loads(capsys.readouterr().out)
    [session] = document["sessions"]
    data_step = session["steps"][-1]
    early = [f["message"] for f in document["findings"] if f["code"] == "capture_ended_early"]
    flowing = "data was flowing at the capture's end"
    assert (flowing in data_step["detail"]) == open_at_end, data_step
    if open_at_end:  # the refusal is the session's failure: no warning of its own
        assert data_step["status"] == "unknown" and "10.77.0.2:6001" in data_step["detail"]
        assert any(f["code"] == "ndmp_error_reply" for f in document["findings"])
    else:
        assert not any(flowing in m for m in early), early


def receiver_closed_first(close_first: bool, last_acked: bool = True,
                          sender_fin: bool = False) -> bytes:
    """One backup whose data connection (the media server 5003 -> the agent 6001) the
    capture holds only the media server's packets of (the receiver's: its ACKs count
    the agent's 150,000 B): with close_first, the media server closes it (FIN) after
    100 segments and goes on ACKing the 50 the agent still sends, no FIN of the agent's
    acknowledged; else the agent's FIN (unseen) comes after the last segment and the
    media server's FIN acknowledges it (its ACK number one past the data), after its
    ACK of the last segment (last_acked) or with it (its ACK number then 1001 past the
    one before: the FIN came with the last data, or later). sender_fin (with
    close_first): the agent's FIN (unseen) after its last segment, acknowledged."""
    out: list[tuple[float, bytes]] = []
    control, data, ts = _backup_opened(out)
    for k in range(150):
        ts += 0.001
        data.data(ts, "resp", bytes(1000))
        if last_acked or k < 149:
            data._send(ts + 0.0001, "orig", 0x10)  # the receiver's ACK
        if close_first and k == 99:
            data._send(ts + 0.0002, "orig", 0x11)  # its FIN first
    if close_first and sender_fin:
        data.seq["resp"] += 1  # the agent's FIN, not captured
        data._send(ts + 0.0002, "orig", 0x10)  # the media server's ACK of it
    if not close_first:
        data.seq["resp"] += 1  # the agent's FIN, not captured
        data._send(ts + 0.0002, "orig", 0x11)  # the media server's FIN acknowledges it
    agent_data = (AGENT, 6001)
    kept = [(when, frame) for when, frame in out
            if (socket.inet_ntoa(frame[26:30]), int.from_bytes(frame[34:36], "big"))
            != agent_data]
    control.data(ts + 0.001, "orig", msg(5, REQUEST, 0x400, b""))  # DATA_GET_STATE, last
    kept.append(out[-1])
    kept.sort(key=lambda item: item[0])
    return pcap_bytes(kept)


@pytest.mark.parametrize("close_first", [True, False])
def test_the_acked_bytes_when_the_receiver_closed_first(
        close_first: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The agent's bytes the media server's ACKs count: its FIN's ACK counts the agent's
    FIN (one sequence number) only when it closed last; closing first, the ACKs after its
    FIN count the agent's data alone (it said 149,999 B). Closing last, its FIN's ACK
    one past its ACK before proves the agent's FIN (the transfer not open: the next
    test), so here its FIN acknowledges the last data too (a step of 1001)."""
    path = tmp_path / "closed.pcap"
    path.write_bytes(receiver_closed_first(close_first, last_acked=close_first))
    run(["analyze", str(path), "--format", "json", "--media-range", MEDIA_RANGE,
         "--agent-range", AGENT_RANGE])
    document = json.loads(capsys.readouterr().out)
    [session] = document["sessions"]
    data_step = session["steps"][-1]
    assert data_step["status"] == "unknown", data_step
    assert "(150,000 B over" in data_step["detail"], data_step["detail"]


@pytest.mark.parametrize("close_first", [True, False])
def test_the_receivers_ack_one_past_the_data_ends_the_transfer(
        close_first: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The media server's FIN with ACK one past its ACK of all the data (closing last),
    or closing first, its ACK of the agent's data then one more (the agent's FIN, its
    own not captured): the transfer ended; without it, data was flowing (field check 48:
    lab matrix seed 107 run 54)."""
    path = tmp_path / "closed.pcap"
    path.write_bytes(receiver_closed_first(close_first, sender_fin=True))
    run(["analyze", str(path), "--format", "json", "--media-range", MEDIA_RANGE,
         "--agent-range", AGENT_RANGE])
    document = json.loads(capsys.readouterr().out)
    [session] = document["sessions"]
    data_step = session["steps"][-1]
    assert "data was flowing" not in data_step["detail"], data_step
    assert "the agent's FIN, which the capture lacks" in data_step["detail"], data_step
