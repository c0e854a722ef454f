"""What a data connection carried each way, for the words of a finding about it
("carried 1447600 B agent -> media server and 0 B media server -> agent").

The counts are the capture's (flowcheck.verify.bytes_each_way.sent_each_way: each byte
counted once). A connection whose opening is not in the capture (no SYN, no SYN-ACK: it opened
before the capture started, or the sniffer missed its handshake) may have carried much
more before its first captured packet, so its counts are said to be those in the capture
(new-user trial 31 D5: a capture started 1.5 s into the job read "carried 21720 B" of a
connection that had carried 1.45 MB). A direction the capture holds no segment of (a
capture of one direction, tcpdump -Q in/out) is said by what its receiver's ACKs
acknowledge (Connection.acked_unseen_split), not as 0 B (lab matrix seed 125 run 6: a
restore's data connection reset after its agent had acknowledged 1245184 B read "after
carrying 0 B agent -> media server and 0 B media server -> agent").
"""

from __future__ import annotations

from flowcheck.model import Connection, Direction, Session
from flowcheck.verify.bytes_each_way import sent_each_way
from flowcheck.verify.end_roles import conn_sides
from flowcheck.verify.server_roles import ways


def carried_words(conn: Connection, session: Session) -> str:
    """"21720 B agent -> media server and 0 B media server -> agent", with " in the
    capture (...)" after it when the connection's opening is not in the capture."""
    sent = sent_each_way(session, [conn])
    to_mover, to_data = ways(conn, session)
    agent_is_orig = conn_sides(conn, session)[1] == (conn.orig_h, conn.orig_p)
    moved = " and ".join(
        _way_words(conn, sent[key], way, side) for key, way, side in (
            ("to_media", to_mover, "orig" if agent_is_orig else "resp"),
            ("to_agent", to_data, "resp" if agent_is_orig else "orig")))
    if conn.syn_seen or conn.synack_seen:
        return moved
    return (f"{moved} in the capture (its opening is not in it: it opened before the "
            "capture started, or the sniffer missed its handshake, and may have carried "
            "more before its first captured packet)")


def fin_unseen_possible(conn: Connection) -> bool:
    """Could a side the capture holds no packet of have sent a FIN among the bytes its
    peer acknowledged (its count said "(or N B and a FIN)": _way_words)? Then "before
    any FIN" is of the FINs the capture holds only (review 56a)."""
    return any(acked and not fin for acked, fin in
               (conn.acked_unseen_split("orig"), conn.acked_unseen_split("resp")))


def _way_words(conn: Connection, sent: int, way: str, side: Direction) -> str:
    """"21720 B agent -> media server" (sent: the capture's bytes of `side`, the way's
    sender); for a side the capture holds no segment of whose bytes its peer's ACKs
    acknowledge, "1245184 B media server -> agent (or 1245183 B and a FIN),
    acknowledged by the agent (the capture holds no packet of that direction)" (way:
    "media server -> agent"). An ACK counts a FIN as one byte: one the receiver's own
    FIN proves is said apart ("and its FIN"); else the count may hold one (review 56a:
    a FIN sent with the last data, acknowledged with it by one ACK, read "100001 B" of
    100000 B, captures/review56a)."""
    acked, fin = conn.acked_unseen_split(side)
    if sent or not acked:
        return f"{sent:,} B {way}"
    receiver = way.split(" -> ")[-1]
    maybe = f" (or {acked - 1:,} B and a FIN)" if not fin else " and its FIN"
    return (f"{acked:,} B {way}{maybe}, acknowledged by the {receiver} (the capture holds "
            "no packet of that direction)")
