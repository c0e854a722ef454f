"""A capture that stopped between a job's configured resources (field check trial 32).

A Backup Exec-style job of 3 resources (the agent refuses the 2nd DATA_LISTEN) cut after
resource 1's NOTIFY_DATA_HALTED, and a healthy restore of 2 resources cut the same way,
read PASS ("data connections for 1 of the 3 configured resources"), though the control
connection was still open at the capture's end: the other resources' announcements and
data connections may come after it. Steps 4 and 5 are now `unknown` for them
(inconclusive, contract "Verdict") and capture_ended_early names the cut. A job whose
control connection the capture saw closed with fewer resources keeps its judgement.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import segment, write
from scapy.all import IP, TCP
from scapy_files import read_packets
from stored import sidecar, stored_analysis

CASES = Path(__file__).resolve().parent.parent / "captures" / "trial32-resources"
LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _check_cut(name: str, seen: int, resources: int) -> None:
    analysis = stored_analysis(CASES / name)
    [session] = analysis.sessions
    assert analysis.verdict == "inconclusive"
    steps = {s.step: s for s in session.steps}
    words = f"stopped after resource {seen} of {resources}"
    for number in (4, 5):
        assert steps[number].status == "unknown"
        assert words in steps[number].detail
    assert [s.status for s in session.steps[:3]] == ["ok"] * 3
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert words in early.message and early.session == session.id
    assert "error" not in {f.severity.value for f in analysis.findings}


def test_a_failed_job_cut_after_its_first_of_three_resources_is_inconclusive() -> None:
    _check_cut("listen-error-between-resources.pcap.gz", 1, 3)


def test_a_healthy_restore_cut_after_its_first_of_two_resources_is_inconclusive() -> None:
    _check_cut("restore-between-resources.pcap.gz", 1, 2)


def test_a_closed_control_connection_with_fewer_resources_keeps_its_judgement() -> None:
    # The whole listen-error job: 2 of its 3 resources carried data, the 2nd refused;
    # the control connection closed, the capture shows the job's end: no unknown step.
    analysis = stored_analysis(LAB / "listen-error.pcap")
    assert analysis.verdict == "fail"
    assert not [s for ses in analysis.sessions for s in ses.steps if s.status == "unknown"]
    assert "capture_ended_early" not in {f.code for f in analysis.findings}


@pytest.mark.parametrize("agent_fin", [False, True])
def test_a_last_ack_one_past_the_unseen_side_is_no_proof_the_job_was_open(
        tmp_path: Path, agent_fin: bool) -> None:
    """Lab matrix seed 108 run 18: a capture of the media server's packets only (the
    agent's side not captured) that ends after the media server's ACK one past the
    agent's last bytes before (the agent's FIN, or one last byte) and before the media
    server's own FIN read "the control connection ... is still open at its end (no FIN or
    RST ...)": nothing in the capture shows that. The healthy 2-resource restore cut
    after resource 1, kept to the media server's packets, with its ACK of the agent's
    DATA_STOP reply (32 bytes), and then (agent_fin) one more ACK one past it."""
    case = CASES / "restore-between-resources.pcap.gz"
    packets = [p for p in read_packets(str(case)) if IP in p and p[IP].src == "10.77.0.1"]
    stop = [p for p in packets if TCP in p and p[TCP].dport == 10000][-1]  # DATA_STOP
    seq, acked = stop[TCP].seq + len(stop[TCP].payload), stop[TCP].ack + 32
    acks = [segment(stop, "A", seq, acked + extra, stop.time + Decimal(f"0.000{extra + 2}"))
            for extra in ((0, 1) if agent_fin else (0,))]
    path = write(tmp_path, "restore-media-side", packets + acks)
    analysis = stored_analysis(path, config_path=sidecar(case))
    assert analysis.verdict == "inconclusive"
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    steps = {s.step: s for s in analysis.sessions[0].steps}
    said = [early.message, steps[4].detail, steps[5].detail]
    assert [steps[4].status, steps[5].status] == ["unknown", "unknown"]
    still_open = "10.77.0.2:10000 is still open at its end (no FIN or RST"
    one_more = ("but 10.77.0.1's last ACK of 10.77.0.2's bytes takes one sequence number "
                "more than the one before: 10.77.0.2's FIN, or one last byte, which the "
                "capture lacks (it holds no packet of 10.77.0.2's on this connection), so "
                "whether it was still open at the capture's end cannot be seen, and the "
                "announcements and data connections of the other 1 configured resource "
                "may have come after it")
    assert all((one_more in words) == agent_fin for words in said)
    assert all((still_open in words) != agent_fin for words in said)
    assert ("the restore may not have been over" in early.message) == agent_fin


def test_last_message_words_name_no_ndmp_message_inside_tls() -> None:
    """The words that name a control stream's last message (steps 4-5 here, and
    control_closed before a FIN): a clear stream names its last message; one that went
    on in TLS after it names none (a TLS record is no NDMP message), its last packet
    instead, or, before a FIN, nothing more than the TLS."""
    from flowcheck.model import Connection, NdmpMessage, NdmpStream
    from flowcheck.verify.unseen_resources import last_message_words

    control = Connection("C1", "10.0.0.1", 5001, "10.0.0.2", 10000, 0.0, last_frame=142)
    clear = [NdmpMessage(5, 0.1, "resp", 1, "request", 0x502, "NOTIFY_CONNECTED", 0, 0),
             NdmpMessage(7, 0.2, "orig", 2, "request", 0x900, "CONNECT_OPEN", 0, 0)]
    stream = NdmpStream("C1", 4, messages=list(clear))
    assert last_message_words(stream, control) == "last NDMP message: frame 7"
    stream.tls_from = {"orig": 9, "resp": 10}
    assert last_message_words(stream, control) == (
        "its NDMP messages in TLS from frame 9 on; last packet: frame 142")
    assert last_message_words(stream, control, before=140) == (
        "its NDMP messages in TLS from frame 9 on")
    assert last_message_words(stream, control, before=8) == "last NDMP message: frame 7"
    stream.messages = []
    assert last_message_words(stream, control) == (
        "its NDMP messages in TLS from frame 9 on; last packet: frame 142")
