"""SideEvidence.resends (a side's trailing retransmissions, after its
last new byte), _resends_acked (the same when the latest resend began below the peer's
highest captured ACK), _resent_ts and _resent_frame (the latest resend),
_resend_first_ts and _resend_first_frame (the first of the trailing run), on the
reference (one packet at a time), bulk and short-connection paths of the tracker, which
must agree; on the new-user trial's ndmjob captures (captures/ndmjob-firewall) whose data
connection stopped delivering mid-job (the frames and counts as tshark shows them:
"tcp.analysis.retransmission", spurious where the ACKs were captured).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)
from test_connections_states import handshake, pkt
from test_connections_states import run as run_packets
from test_connections_util import ACK, PSH, RST

from flowcheck.connections import short_flows

TRIAL = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-firewall"

# name: (the sender's side, resends, of them of bytes the capture shows ACKed, last frame,
# first frame)
STALLS = {
    "v4-midjob-data-drop-at-media": ("orig", 5, 0, 958, 954),
    "v4-restore-midjob-drop-at-agent": ("resp", 6, 0, 868, 863),
    "v4-midjob-established-drop-at-agent": ("orig", 5, 5, 1005, 987),
}


@pytest.mark.parametrize("name", list(STALLS))
def test_resends_agree_on_every_path(name: str, short_everywhere: None  # noqa: F811
                                     ) -> None:
    path = TRIAL / f"{name}.pcap"
    reference, _ = run(path, 1_000_000, fast=False)
    side, resends, acked, frame, first = STALLS[name]
    control, data = reference
    other = "resp" if side == "orig" else "orig"
    assert data.evidence(side).resends == resends
    assert data.evidence(side).resends_acked == acked
    assert data.evidence(side).resent_frame == frame
    assert data.evidence(side).resent_ts is not None
    assert data.evidence(side).resend_first_frame == first
    # The backoff doubles each wait: the run began seconds before its last resend.
    assert data.evidence(side).resent_ts - data.evidence(side).resend_first_ts > 10
    assert (data.evidence(other).resends, data.evidence(other).resent_ts,
            data.evidence(other).resend_first_ts,
            data.evidence(other).resend_first_frame) == (0, None, None, 0)
    for chunk in (50, 700, 1_000_000):
        assert run(path, chunk, fast=True)[0] == reference


def test_established_drop_shows_the_control_reply_resent_after_its_ack() -> None:
    """The agent's DATA_GET_STATE reply, ACKed in the capture, resent 7 times."""
    control, _ = run(TRIAL / "v4-midjob-established-drop-at-agent.pcap", 1_000_000,
                     fast=False)[0]
    assert (control.evidence("resp").resends, control.evidence("resp").resends_acked) == (7, 7)
    assert (control.evidence("orig").resends, control.resp_unacked) == (0, 0)


def resend_runs() -> list[bytes]:
    """M sends two segments, resends the first twice, sends a new one (the run ends),
    then resends the second four times (a new run: its first resend is frame 9, its last
    frame 16); A sends a segment, one after a gap (sniffer loss: handed to the per-packet
    path, a short-pass connection taken up from its parked arrays) and resends that one
    once (frame 15). Frames count from 1, 1 ms apart."""
    return handshake() + [
        pkt(True, PSH | ACK, 101, 901, data=100),  # 4
        pkt(True, PSH | ACK, 201, 901, data=100),  # 5
        pkt(True, PSH | ACK, 101, 901, data=100),  # 6: first run
        pkt(True, PSH | ACK, 101, 901, data=100),  # 7
        pkt(True, PSH | ACK, 301, 901, data=100),  # 8: new bytes, the run ends
        pkt(True, PSH | ACK, 201, 901, data=100),  # 9: second run's first
        pkt(False, ACK, 901, 201),  # 10
        pkt(True, PSH | ACK, 201, 901, data=100),  # 11
        pkt(True, PSH | ACK, 201, 901, data=100),  # 12: its last
        pkt(False, PSH | ACK, 901, 401, data=50),  # 13
        pkt(False, PSH | ACK, 1051, 401, data=50),  # 14: after a gap of 100 B
        pkt(False, PSH | ACK, 1051, 401, data=50),  # 15: A's only resend
        pkt(True, PSH | ACK, 201, 1101, data=100),  # 16: M's run goes on
    ]


@pytest.mark.parametrize("short_pass", ["as configured", "every batch"])
def test_first_resend_of_the_trailing_run_on_every_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, short_pass: str) -> None:
    if short_pass == "every batch":
        monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
        monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
    packets = resend_runs()
    (reference,) = run_packets(tmp_path, packets, chunk=1, fast=False)
    start = 1_700_000_000.0  # test_connections_util.write_pcap's first packet
    assert (reference.evidence("orig").resends, reference.evidence("orig").resent_frame,
            reference.evidence("orig").resend_first_frame) == (4, 16, 9)
    assert reference.evidence("orig").resend_first_ts == pytest.approx(start + 0.008)
    assert reference.evidence("orig").resent_ts == pytest.approx(start + 0.015)
    assert (reference.evidence("resp").resends, reference.evidence("resp").resent_frame,
            reference.evidence("resp").resend_first_frame) == (1, 15, 15)
    assert reference.evidence("resp").resend_first_ts == reference.evidence("resp").resent_ts
    # Every batch size: runs split across batches (bulk and short pass alike).
    for chunk in range(1, len(packets) + 1):
        assert run_packets(tmp_path, packets, chunk=chunk) == [reference], chunk



def answered_late(ack: str, sender_acks_reply: bool) -> list[bytes]:
    """M sends a 28 B request and resends it twice; A acknowledges it before the resends
    (ack "first": the capture holds an ACK M never got), only after them with its 104 B
    reply ("late": a slow link, trial 10's shaped DATA_GET_STATE), or only on a RST after
    them ("rst"); M then acknowledges the reply (sender_acks_reply) or sends nothing
    more."""
    request = [pkt(True, PSH | ACK, 101, 901, data=28)]  # 4
    early = [pkt(False, ACK, 901, 129)] if ack == "first" else []
    resends = [pkt(True, PSH | ACK, 101, 901, data=28),
               pkt(True, PSH | ACK, 101, 901, data=28)]
    reply = ([pkt(False, RST | ACK, 901, 129)] if ack == "rst" else
             [pkt(False, PSH | ACK, 901, 129, data=104)])
    taken = [pkt(True, ACK, 129, 1005)] if sender_acks_reply else []
    return handshake() + request + early + resends + reply + taken


@pytest.mark.parametrize(("ack", "sender_acks_reply", "lost"), [
    ("late", True, 0),  # answered after the resends, the reply taken: delivered
    ("late", False, 0),  # the ACK came after the resends: no ACK the capture saw was lost
    ("first", True, 0),  # the sender then took the reply, which carried the ACK
    ("first", False, 2),  # ACKed before the resends, nothing taken since: the ACKs lost
    ("rst", False, 2),  # a RST's ACK ends the connection, it answers nothing (as before)
])
def test_resends_acked_only_when_no_ack_answered_them_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ack: str,
        sender_acks_reply: bool, lost: int) -> None:
    """Trial 10 (D7): a shaped link delayed DATA_GET_STATE's reply, the media server
    resent the request twice, the reply acknowledged it and the media server ACKed the
    reply; control_stalled read the resends as "ACKs lost" because the capture held an
    ACK of the resent bytes, whenever it came."""
    packets = answered_late(ack, sender_acks_reply)
    (reference,) = run_packets(tmp_path, packets, chunk=1, fast=False)
    sent = reference.evidence("orig")
    assert (sent.resends, sent.resends_acked) == (2, lost)
    assert reference.orig_unacked == 0
    for short_pass in ("as configured", "every batch"):
        if short_pass == "every batch":
            monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
            monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
        for chunk in range(1, len(packets) + 1):
            assert run_packets(tmp_path, packets, chunk=chunk) == [reference], chunk
