"""A segment that fills a sequence gap: a retransmission, or out-of-order delivery.

On a capture taken at the receiver, bytes lost before the capture point leave a gap, and
the sender's resend fills it later; reordering fills a gap the same way. Wireshark's TCP
analysis (User's Guide, "TCP Analysis": tcp.analysis.fast_retransmission,
out_of_order, retransmission) tells them apart for a segment with payload whose sequence
number is below its side's next expected one (`next_seq`: the highest sequence number
plus length the side sent, a SYN or FIN taking one):

- a spurious retransmission (counted) when the peer's last ACK number is at or above its
  end (the receiver had those bytes: the sniffer missed them);
- a fast retransmission (counted) when the peer sent 2 or more duplicate ACKs, its last
  ACK number is the segment's sequence number and came less than 20 ms before it;
- else out-of-order (not counted) when it came less than the out-of-order threshold after
  the packet that set next_seq (the connection's handshake round trip, tshark's
  tcp.analysis.initial_rtt: Connection.rtt, or 3 ms without one) and does not end at
  next_seq;
  ("less than ... after" holds for 0 or more: a capture whose time goes back is never
  within either);
- else a retransmission (counted).

A duplicate ACK: no payload, no SYN, FIN or RST, a window other than 0 and the same as the
sender's previous packet's, the same ACK number as its previous ACK, and the sender's
next_seq as its sequence number; a packet with another ACK number starts the count again.
Checked against tshark 4.0 on built captures (tests/test_connections_fills.py).

The per-side state (Endpoint's next_seq, next_seq_ts, ack_sent, ack_sent_ts, dup_acks,
window_last: Wireshark's nextseq, nextseqtime, lastack, lastacktime, dupacknum, window)
holds raw 32-bit numbers compared by signed differences, as Wireshark does. Times are
compared in whole microseconds (the float seconds of a microsecond capture, exact).
`note_packet` is the reference update of one packet; reordering_rows.DirectionRows
computes the same for rows grouped by side, at once (the bulk and short-connection paths).
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.endpoint import signed32

# TCP flags (conn's; conn imports this module).
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
M32 = 0xFFFFFFFF
OOO_DEFAULT_US = 3000  # Wireshark's out-of-order threshold without a handshake round trip
FAST_DUP_ACKS = 2  # duplicate ACKs before a fast retransmission
FAST_WITHIN_US = 20000  # ... the last ACK at most this long before it


def _micros(seconds: float) -> int:
    return round(seconds * 1e6)


def fill_is_retransmission(seq: int, plen: int, ts: float, next_seq: int | None,
                           next_seq_ts: float | None, rtt: float | None, dup_acks: int,
                           ack_sent: int | None, ack_sent_ts: float | None) -> bool:
    """Wireshark's rule for a data segment below its side's next_seq (seq raw, plen
    payload bytes, ts seconds), given its side's next_seq (raw) and when it was set, the
    connection's handshake round trip (seconds; None or 0: none), and the peer's duplicate
    ACKs, last ACK number (raw) and its time: True for a (spurious, fast) retransmission,
    False for out-of-order."""
    if ack_sent is not None and signed32((seq + plen) - ack_sent) <= 0:
        return True  # spurious: the peer had ACKed these bytes already
    if (dup_acks >= FAST_DUP_ACKS and ack_sent == seq and ack_sent_ts is not None
            and 0 <= _micros(ts - ack_sent_ts) < FAST_WITHIN_US):
        return True
    if next_seq is None or next_seq_ts is None:
        return True
    threshold = _micros(rtt) if rtt else OOO_DEFAULT_US
    return not (0 <= _micros(ts - next_seq_ts) < threshold
                and (seq + plen) & M32 != next_seq)


def below_next_seq(seq: int, next_seq: int | None) -> bool:
    """seq (raw) is below next_seq (raw, None: unknown), by signed 32-bit difference."""
    return next_seq is not None and signed32(seq - next_seq) < 0


def unseen_retransmission(side, peer, seq: int, plen: int, ts: float,
                          rtt: float | None) -> bool:
    """A data segment of `side` (an Endpoint) with bytes the capture had not seen from
    it (not a repeat): a retransmission when it starts below the side's next_seq and
    fill_is_retransmission says so (peer: the other Endpoint; rtt: Connection.rtt)."""
    return plen > 0 and below_next_seq(seq, side.next_seq) and fill_is_retransmission(
        seq, plen, ts, side.next_seq, side.next_seq_ts, rtt, peer.dup_acks, peer.ack_sent,
        peer.ack_sent_ts)


def note_packet(side, flags: int, seq: int, ack: int, plen: int, window: int,
                ts: float) -> bool:
    """One packet of `side` (an Endpoint; not a capture copy) in Wireshark's per-side
    state: its ACK (a duplicate or a new number), its window, its sequence end. True
    when it was a duplicate ACK (counted in dup_acks: connections.ack_repeats)."""
    dup = False
    if flags & ACK:
        if ack != side.ack_sent:
            side.dup_acks = 0
        elif (plen == 0 and not flags & (SYN | FIN | RST) and window
              and window == side.window_last and seq == side.next_seq):
            side.dup_acks += 1
            dup = True
        side.ack_sent, side.ack_sent_ts = ack, ts
    side.window_last = window
    if flags & RST:
        return dup  # a RST's sequence number (0 in a refusal) is not the side's sequence
    end = (seq + plen + (1 if flags & (SYN | FIN) else 0)) & M32
    if side.next_seq is None or signed32(end - side.next_seq) > 0:
        side.next_seq, side.next_seq_ts = end, ts
    return dup


WIRE_FIELDS = ("next_seq", "next_seq_ts", "ack_sent", "ack_sent_ts", "dup_acks",
               "window_last")  # Endpoint's fields of this state
NONE = np.iinfo(np.int64).min  # None in the int64 columns (record_columns.NONE)


def optional_raw(value: int) -> int | None:
    return None if value == NONE else value


def optional_time(value: float) -> float | None:
    return None if value != value else value


def wire_item(name: str, value: float) -> float | int | None:
    """One WIRE_FIELDS value from a column, as its Endpoint field."""
    if name == "dup_acks":
        return int(value)
    return optional_time(value) if name.endswith("_ts") else optional_raw(value)


def endpoint_columns(sides: list) -> dict[str, np.ndarray]:
    """Endpoints' WIRE_FIELDS as columns (reordering_rows.DirectionRows' init)."""
    # One list per field, then one array each (a batch has few sides: np.array of a
    # list costs less than np.fromiter of a generator).
    ns, ns_ts, ack, ack_ts, dups, window = [], [], [], [], [], []
    for side in sides:
        ns.append(NONE if side.next_seq is None else side.next_seq)
        ns_ts.append(np.nan if side.next_seq_ts is None else side.next_seq_ts)
        ack.append(NONE if side.ack_sent is None else side.ack_sent)
        ack_ts.append(np.nan if side.ack_sent_ts is None else side.ack_sent_ts)
        dups.append(side.dup_acks)
        window.append(NONE if side.window_last is None else side.window_last)
    return {"next_seq": np.array(ns, np.int64), "next_seq_ts": np.array(ns_ts, np.float64),
            "ack_sent": np.array(ack, np.int64), "ack_sent_ts": np.array(ack_ts, np.float64),
            "dup_acks": np.array(dups, np.int64),
            "window_last": np.array(window, np.int64)}


def set_endpoints(sides: list, columns: dict[str, np.ndarray]) -> None:
    """Columns (DirectionRows.final) back into the Endpoints."""
    for side, ns, ns_ts, ack, ack_ts, dups, window in zip(
            sides, *(columns[name].tolist() for name in WIRE_FIELDS), strict=True):
        side.next_seq = None if ns == NONE else ns
        side.next_seq_ts = None if ns_ts != ns_ts else ns_ts
        side.ack_sent = None if ack == NONE else ack
        side.ack_sent_ts = None if ack_ts != ack_ts else ack_ts
        side.dup_acks = dups
        side.window_last = None if window == NONE else window


def empty_columns(count: int) -> dict[str, np.ndarray]:
    """WIRE_FIELDS for `count` sides that sent nothing yet."""
    return {name: np.full(count, np.nan) if name.endswith("_ts")
            else np.zeros(count, np.int64) if name == "dup_acks"
            else np.full(count, NONE, np.int64) for name in WIRE_FIELDS}
