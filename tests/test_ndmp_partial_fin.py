"""ndmp_partial counts the bytes lost after a direction's last captured byte, which its
FIN's sequence number (or the peer's ACKs) prove sent, as a hole, as capture_loss counts
them (a new-user trial of session 51: "From the responder, 48 bytes were never captured,
in 1 hole" where the FIN proved 364 bytes more lost, capture_loss and the step detail
already counting them).

Built from captures/ndmjob/v4-backup.pcap (the control connection's agent side is
10.77.0.2:10000): its frames 2152, 2155, 2158 and 2160 are the agent's last four replies
before its FIN (frame 2162), 124 + 104 + 32 + 104 = 364 bytes of TCP payload (tshark
tcp.len), the trial's 364;
frame 2146 an earlier reply of 104 bytes, with replies of the agent's captured after it.
"""

from __future__ import annotations

import re
from pathlib import Path

from capture_edit import editcap

from flowcheck.config import build_config, load_file
from flowcheck.ndmp.reassembly import Gap, Reassembler
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
TAIL = (2152, 2155, 2158, 2160)  # the agent's last replies before its FIN
TAIL_BYTES = 124 + 104 + 32 + 104
MIDDLE, MIDDLE_BYTES = 2146, 104
FIN_FRAME = 2162  # the agent's FIN
SYN, ACK, FIN = 0x02, 0x10, 0x01


def _without(tmp_path: Path, frames: tuple[int, ...]) -> Analysis:
    path = tmp_path / "v4-backup-cut.pcapng"
    path.write_bytes(editcap((CAPTURES / "v4-backup.pcap").read_bytes(), frames,
                             keep=False))
    config = build_config(load_file(CAPTURES / "flowcheck.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _counts(analysis: Analysis) -> tuple[str, int, int]:
    """(ndmp_partial's message, its responder's bytes never captured, capture_loss's
    bytes of the control connection)."""
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    never = re.search(r"From the responder, ([\d,]+) B were never captured",
                      partial.message)
    lost = re.search(r"control connection C1 [^:]+:\d+ -> [^:]+:\d+: ([\d,]+) B",
                     loss.message)
    assert never and lost, (partial.message, loss.message)
    return partial.message, int(never[1].replace(",", "")), int(lost[1].replace(",", ""))


def test_bytes_before_the_fin_are_a_hole(tmp_path: Path) -> None:
    """Only the tail lost: no segment of the agent's after it, its FIN alone proves it
    (no ndmp_partial at all before: capture_loss alone said 364 bytes)."""
    message, never, lost = _counts(_without(tmp_path, TAIL))
    assert never == lost == TAIL_BYTES
    assert f"{TAIL_BYTES:,} B were never captured, in 1 hole." in message


def test_last_hole_and_an_earlier_one_add_up(tmp_path: Path) -> None:
    """A hole inside the stream and the tail: 2 holes, the bytes of both (it read "104
    bytes were never captured, in 1 hole" beside capture_loss's 468 in 2 gaps)."""
    message, never, lost = _counts(_without(tmp_path, (MIDDLE, *TAIL)))
    assert never == lost == MIDDLE_BYTES + TAIL_BYTES
    assert f"{MIDDLE_BYTES + TAIL_BYTES:,} B were never captured, in 2 holes" in message
    # The held reply is still named, and the last sentence ends with a full stop.
    assert "(NDMP sequence numbers 7 and 9): the reply to DATA_GET_STATE" in message
    assert message.endswith(".") and not message.endswith("..")


def test_the_peers_ack_proves_them_when_the_fin_is_lost(tmp_path: Path) -> None:
    """The FIN lost too: the media server's last ACK acknowledged the agent's bytes and
    its FIN, so the tail is counted as capture_loss counts it (the FIN's sequence number
    among the bytes: more than one sequence number past the last byte captured, a FIN
    cannot be told from a byte)."""
    _, never, lost = _counts(_without(tmp_path, (*TAIL, FIN_FRAME)))
    assert never == lost == TAIL_BYTES + 1


def test_reassembler_fin_and_acks() -> None:
    r = Reassembler()
    r.segment(0, SYN, b"", 1, 0.0)
    r.segment(1, ACK, b"abcd", 2, 0.1)
    r.segment(5, ACK, b"efgh", 3, 0.2)
    assert r.segment(20, ACK | FIN, b"", 4, 0.3) == []  # 11 bytes lost before the FIN
    r.peer_acked(21, 5, 0.4)  # its FIN acknowledged: no byte more than the FIN tells
    [gap] = r.close()
    assert gap == Gap(11, 4, 0.3) and r.missing == 11

    acked = Reassembler()
    acked.segment(0, SYN, b"", 1, 0.0)
    acked.segment(1, ACK, b"abcd", 2, 0.1)
    acked.peer_acked(9, 3, 0.2)
    acked.peer_acked(8, 4, 0.3)  # an older ACK later: the highest stands
    assert acked.close() == [Gap(4, 3, 0.2)]

    fin_unseen = Reassembler()
    fin_unseen.segment(0, SYN, b"", 1, 0.0)
    fin_unseen.segment(1, ACK, b"abcd", 2, 0.1)
    fin_unseen.peer_acked(6, 3, 0.2)  # one past the last byte: its FIN, not a byte
    assert fin_unseen.close() == []

    # A hole held open until the end and the bytes before the FIN: two gaps.
    held = Reassembler()
    held.segment(0, SYN, b"", 1, 0.0)
    held.segment(1, ACK, b"ab", 2, 0.1)
    held.segment(5, ACK, b"ef", 3, 0.2)  # bytes 3-4 lost
    held.segment(9, ACK | FIN, b"", 4, 0.3)  # bytes 7-8 lost before the FIN
    assert [d for d in held.close() if isinstance(d, Gap)] == [Gap(2, 3, 0.2),
                                                               Gap(2, 4, 0.3)]


def test_peer_ack_does_not_move_the_data_anchor() -> None:
    """The peer's ACK number is measured against the direction's own sequence numbers,
    never taken as their reference: an ACK half the sequence space away (a stray one, a
    middlebox's reset with a bogus ACK) re-anchored the unwrapping on 7ef22951, so the
    direction's next data unwrapped 2**32 back, read as a retransmission and never
    delivered (review 51e)."""
    base = 3_000_000_000
    r = Reassembler()
    r.segment(base - 1, SYN, b"", 1, 0.0)
    r.segment(base, ACK, b"abcd", 2, 0.1)
    r.peer_acked((base - (1 << 31) + 2) % (1 << 32), 3, 0.2)  # half the space away
    delivered = r.segment(base + 4, ACK, b"efghij", 4, 0.3)
    assert [d.data for d in delivered if not isinstance(d, Gap)] == [b"efghij"]
    assert r.delivered == 10 and r.retransmitted == 0
    assert r.close() == []  # nothing acknowledged past the last byte: no last hole
