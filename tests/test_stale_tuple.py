"""A SYN answered by a socket that still held an earlier connection on its 4-tuple (field
check trial 35 D2).

The agent closed a data connection first (TIME-WAIT); the media server bound the same
port again and connected to the same agent port 6 s later. The agent answered the SYN
with a bare ACK of the old connection (its ACK number the old one's, not the SYN's + 1:
RFC 9293 3.10.7.4, RFC 5961 4), the media server reset it and sent its SYN again, which
was refused. flowcheck read the ACK as the responder going on after a SYN-ACK the
sniffer lost (capture_loss) and the connection as opened ("missing" data), so the session
got one data_refused instead of two. The history stays Zeek's (SaRr: the ACK is a pure
ACK, "a"); the engine keeps the ACK's frame (Connection.stale_ack_frame) and the readers
take it as no answer.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import analyze_lab, lab_packets, next_seq, segment, write
from scapy.all import IP, TCP, Packet
from test_connections_states import pkt, run
from test_connections_util import ACK, FIN, PSH, RST, SYN
from test_connections_util import write_pcap as write_raw
from test_tshark_counts import assert_matches_tshark

from flowcheck.sessions import connection_outcome
from flowcheck.sessions.classify import stale_answer

OLD_ISN, PEER_ISN, NEW_ISN = 1000, 5000, 900_000


def _old_connection() -> list[bytes]:
    """M:5001 -> A:10000, 100 bytes from A, A closing first (A holds it in TIME-WAIT)."""
    return [pkt(True, SYN, OLD_ISN), pkt(False, SYN | ACK, PEER_ISN, OLD_ISN + 1),
            pkt(True, ACK, OLD_ISN + 1, PEER_ISN + 1),
            pkt(False, PSH | ACK, PEER_ISN + 1, OLD_ISN + 1, data=100),
            pkt(True, ACK, OLD_ISN + 1, PEER_ISN + 101),
            pkt(False, FIN | ACK, PEER_ISN + 101, OLD_ISN + 1),
            pkt(True, FIN | ACK, OLD_ISN + 1, PEER_ISN + 102),
            pkt(False, ACK, PEER_ISN + 102, OLD_ISN + 2)]


def _answered(first_ack: int) -> list[bytes]:
    """A new SYN on the same 4-tuple, A's ACK with first_ack, M's RST (its sequence
    number that ACK's, RFC 9293 3.10.7.3), the SYN again, A's refusal."""
    return [pkt(True, SYN, NEW_ISN), pkt(False, ACK, PEER_ISN + 102, first_ack),
            pkt(True, RST, first_ack), pkt(True, SYN, NEW_ISN),
            pkt(False, RST | ACK, 0, NEW_ISN + 1)]


def _tracked(tmp_path: Path, packets: list[bytes]):
    reference = run(tmp_path, packets, chunk=1, fast=False)
    for chunk in (1, 3, 8, 1000):
        assert run(tmp_path, packets, chunk=chunk) == reference, chunk
    assert_matches_tshark(write_raw(tmp_path / "t.pcap", 1, packets), reference)
    return reference


def test_an_old_connection_s_ack_is_no_answer(tmp_path: Path) -> None:
    old, new = _tracked(tmp_path, _old_connection() + _answered(OLD_ISN + 2))
    assert old.history == "ShAdfFa" and old.stale_ack_frame == 0
    assert (new.history, new.conn_state, new.syn_retries) == ("SaRr", "REJ", 1)
    assert new.stale_ack_frame == 10 and new.synack_frames == []
    assert connection_outcome(new) == "refused"


@pytest.mark.parametrize("ack", [NEW_ISN + 1, NEW_ISN + 1 + 40])
def test_an_ack_of_the_syn_is_the_responder_going_on(tmp_path: Path, ack: int) -> None:
    """A SYN-ACK the capture lacks: the responder's ACK acknowledges the SYN (+ 1), or
    data the originator sent once that SYN-ACK reached it. It opened."""
    packets = [pkt(True, SYN, NEW_ISN)]
    if ack > NEW_ISN + 1:
        packets.append(pkt(True, PSH | ACK, NEW_ISN + 1, PEER_ISN + 1, data=40))
    packets += [pkt(False, ACK, PEER_ISN + 1, ack),
                pkt(False, PSH | ACK, PEER_ISN + 1, ack, data=10)]
    [conn] = _tracked(tmp_path, packets)
    assert conn.stale_ack_frame == 0
    assert connection_outcome(conn) == "established"


NAME = "clean-3-resources"
_M32 = 0xFFFFFFFF


def _again(packets: list, later: Decimal, shift: int) -> list:
    """The job once more, `later` seconds on, from the same ports (Backup Exec with
    fixed port ranges binds them again), each connection with other sequence numbers
    (`shift` added: new ISNs, so new connections on the same 4-tuples)."""
    out = []
    for packet in packets:
        packet = packet.copy()
        packet.time = Decimal(str(packet.time)) + later
        if TCP in packet:
            packet[TCP].seq = (packet[TCP].seq + shift) & _M32
            if packet[TCP].flags & 0x10:
                packet[TCP].ack = (packet[TCP].ack + shift) & _M32
            del packet[IP].chksum, packet[TCP].chksum
        out.append(packet)
    return out


def _stale_capture(tmp_path: Path, retry: str = "refused") -> Path:
    """clean-3-resources twice, 6 s apart, from the same ports. The agent closed the
    first job's second data connection (10.77.0.1:5003 -> 10.77.0.2:6002) first, so it
    still holds it (TIME-WAIT) when the second job connects on that 4-tuple: in place of
    the second job's connection, its SYN, the agent's ACK of the old connection, the
    media server's RST (its sequence number that ACK's), the SYN again and then, by
    `retry`: the refusal ("refused"), or nothing: the SYN resent at the media server's
    doubling timeouts (1, 2, 4 s) and never answered ("unanswered": the agent's firewall
    drops the retry, or the socket ignores it)."""
    first = lab_packets(NAME)
    second = _again(first, Decimal(6), 0x40000000)
    media, agent = (5003, 6002), (6002, 5003)
    old_m, old_a = next_seq(first, *media), next_seq(first, *agent)
    lane = [p for p in second if TCP in p and 6002 in (p[TCP].sport, p[TCP].dport)]
    syn = next(p for p in lane if p[TCP].flags == "S")
    synack = next(p for p in lane if p[TCP].flags == "SA")
    t, isn = Decimal(str(syn.time)), syn[TCP].seq
    stale = [segment(syn, "S", isn, 0, t),
             segment(synack, "A", old_a, old_m, t + Decimal("0.000015")),
             segment(syn, "R", old_m, 0, t + Decimal("0.000022")),
             _sent_again(syn, isn, t, "0.013", 2)]
    if retry == "refused":
        stale.append(segment(synack, "RA", 0, isn + 1, t + Decimal("0.01308")))
    else:
        stale += [_sent_again(syn, isn, t, after, k)
                  for k, after in enumerate(("1.013", "3.013", "7.013"), start=3)]
    kept = first + [p for p in second if not any(p is q for q in lane)] + stale
    return write(tmp_path, "stale", sorted(kept, key=lambda p: Decimal(str(p.time))))


def _sent_again(syn: Packet, isn: int, t: Decimal, after: str, sent: int) -> Packet:
    """The SYN sent again `after` seconds past t, as Linux sends it: the socket's
    `sent`-th packet since the SYN (its IPv4 ID that many later) and its timestamp
    option's TSval the time later (a 1 ms clock), not a capture copy of the SYN
    (copy_window: same IP ID, TTL and TSval)."""
    packet = segment(syn, "S", isn, 0, t + Decimal(after))
    packet[IP].id = (syn[IP].id + sent - 1) % (1 << 16)
    packet[TCP].options = [(kind, (value[0] + int(Decimal(after) * 1000), value[1]))
                           if kind == "Timestamp" else (kind, value)
                           for kind, value in syn[TCP].options]
    return packet


def test_a_syn_answered_by_a_stale_socket_is_refused_not_capture_loss(
        tmp_path: Path) -> None:
    path = _stale_capture(tmp_path)
    analysis = analyze_lab(path, NAME)
    codes = [f.code for f in analysis.findings]
    assert "capture_loss" not in codes, codes
    conn = next(c for c in analysis.traffic.connections
                if c.orig_p == 5003 and c.stale_ack_frame)
    assert (conn.history, conn.conn_state) == ("SaRr", "REJ")
    refused = [f for f in analysis.findings if f.code == "data_refused"]
    assert [f.uid for f in refused] == [conn.uid], codes
    [finding] = refused
    assert conn.stale_ack_frame in finding.frames
    old = next(c for c in analysis.traffic.connections
               if c.orig_p == 5003 and c.first_frame < conn.first_frame)
    assert (f"it still held the earlier connection {old.uid} on the same ports "
            "(10.77.0.1:5003 -> 10.77.0.2:6002), which ended 5.99 s before") in finding.message
    assert "port_reused_within_hold" in finding.message
    assert "not with a SYN-ACK the capture missed" in finding.message
    assert finding.message.endswith(f"which the RST of frame {conn.resp_rst_frame} refused.")
    session = next(s for s in analysis.sessions if conn.uid in s.data_connections)
    assert session.steps[3].status == "failed"
    assert conn.uid not in session.steps[4].uids
    assert_matches_tshark(path, analysis.traffic.connections)


@pytest.mark.parametrize("data", [False, True])
def test_an_ack_beyond_what_the_capture_saw_sent_without_a_reset_is_an_answer(
        tmp_path: Path, data: bool) -> None:
    """The sniffer lost the SYN-ACK and some of the originator's data (review 25a): the
    responder's ACK acknowledges bytes the capture never saw sent. Without the
    originator's RST answering it (RFC 9293 3.10.7.3: a SYN-SENT end resets an ACK of
    something not sent), that is a real answer: the connection opened, no stale reading."""
    packets = [pkt(True, SYN, NEW_ISN)]
    if data:
        packets.append(pkt(True, PSH | ACK, NEW_ISN + 1, PEER_ISN + 1, data=100))
    packets += [pkt(False, ACK, PEER_ISN + 1, NEW_ISN + 1 + 2000 + 1000 * n)
                for n in range(5)]
    [conn] = _tracked(tmp_path, packets)
    assert not stale_answer(conn)
    assert connection_outcome(conn) != "refused"


def test_a_retry_after_a_stale_socket_s_ack_that_goes_unanswered(tmp_path: Path) -> None:
    """The media server's SYN again after the stale ACK and its RST, resent and never
    answered: data_unanswered, whose message says the first SYN met the stale socket's
    ACK (the earlier connection named) and that the retry went unanswered (it said only
    "was never answered: something drops its SYNs ..."). No capture_loss."""
    path = _stale_capture(tmp_path, "unanswered")
    analysis = analyze_lab(path, NAME)
    codes = [f.code for f in analysis.findings]
    assert "capture_loss" not in codes and "data_refused" not in codes, codes
    conn = next(c for c in analysis.traffic.connections
                if c.orig_p == 5003 and c.stale_ack_frame)
    assert (conn.history, connection_outcome(conn), len(conn.syn_frames)) == ("SaR",
                                                                            "unanswered", 5)
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert finding.uid == conn.uid and conn.stale_ack_frame in finding.frames
    old = next(c for c in analysis.traffic.connections
               if c.orig_p == 5003 and c.first_frame < conn.first_frame)
    first, again = conn.syn_frames[0], conn.syn_frames[1]
    assert (f"10.77.0.2 answered the SYN (frame {first}) with an ACK that does not "
            f"acknowledge it (frame {conn.stale_ack_frame}): it still held the earlier "
            f"connection {old.uid} on the same ports (10.77.0.1:5003 -> 10.77.0.2:6002), "
            "which ended 5.99 s before") in finding.message
    assert (f"reset that (frame {conn.orig_rst_frame}) and sent its SYN again (frame "
            f"{again}), which went unanswered") in finding.message
    session = next(s for s in analysis.sessions if conn.uid in s.data_connections)
    assert session.steps[3].status == "failed"
    assert_matches_tshark(path, analysis.traffic.connections)


NEXT_ISN = 7000  # the responder's ISN once it accepted the SYN again


@pytest.mark.parametrize("originator", [False, True])
def test_a_stale_looking_ack_then_acks_of_the_syn_is_an_opened_connection(
        tmp_path: Path, originator: bool) -> None:
    """An ACK that does not acknowledge the SYN, the originator's RST, its SYN again, and
    then the responder's ACKs of the SYN (+ 1, or of the originator's data): the
    responder accepted the SYN again and its SYN-ACK is what the sniffer lost, so the
    connection opened and the first ACK is no stale answer (it read stale: no SYN-ACK
    lost, "unanswered"). Enough ACKs after it for the bulk path to take them (it must
    leave them to update_packet while the stale reading is open: the chunk sizes
    compare the two)."""
    packets = [pkt(True, SYN, NEW_ISN), pkt(False, ACK, PEER_ISN + 102, OLD_ISN + 2),
               pkt(True, RST, OLD_ISN + 2), pkt(True, SYN, NEW_ISN)]
    acked = NEW_ISN + 1
    if originator:  # its handshake ACK and data (after the SYN-ACK the capture lacks)
        packets += [pkt(True, ACK, NEW_ISN + 1, NEXT_ISN + 1),
                    pkt(True, PSH | ACK, NEW_ISN + 1, NEXT_ISN + 1, data=100)]
        acked += 100
    packets += [pkt(False, ACK, NEXT_ISN + 1, acked)] * 24
    [conn] = _tracked(tmp_path, packets)
    assert conn.stale_ack_frame == 0 and not stale_answer(conn)
    assert connection_outcome(conn) == "established"


def test_acks_that_still_do_not_acknowledge_the_syn_keep_the_stale_reading(
        tmp_path: Path) -> None:
    """The stale socket answering the SYN again with the old connection's ACK (one that
    ignored the RST, RFC 1337), many times: still no answer to the SYN; the paths agree
    while its ACKs go one at a time."""
    packets = [pkt(True, SYN, NEW_ISN), pkt(False, ACK, PEER_ISN + 102, OLD_ISN + 2),
               pkt(True, RST, OLD_ISN + 2)]
    for _ in range(20):
        packets += [pkt(True, SYN, NEW_ISN), pkt(False, ACK, PEER_ISN + 102, OLD_ISN + 2)]
    [conn] = _tracked(tmp_path, packets)
    assert conn.stale_ack_frame == 2 and stale_answer(conn)
    assert connection_outcome(conn) == "unanswered"
