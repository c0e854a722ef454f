"""What a data connection carried each way, for the words of a finding about it
("carried 1447600 B agent -> media server and 0 B media server -> agent").

The counts are the capture's (flowcheck.verify.bytes_each_way.sent_each_way: each byte
counted once). A connection whose opening is not in the capture (no SYN, no SYN-ACK: it opened
before the capture started, or the sniffer missed its handshake) may have carried much
more before its first captured packet, so its counts are said to be those in the capture
(new-user trial 31 D5: a capture started 1.5 s into the job read "carried 21720 B" of a
connection that had carried 1.45 MB).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.verify.bytes_each_way import sent_each_way
from flowcheck.verify.server_roles import ways


def carried_words(conn: Connection, session: Session) -> str:
    """"21720 B agent -> media server and 0 B media server -> agent", with " in the
    capture (...)" after it when the connection's opening is not in the capture."""
    sent = sent_each_way(session, [conn])
    to_mover, to_data = ways(conn, session)
    moved = f"{sent['to_media']} B {to_mover} and {sent['to_agent']} B {to_data}"
    if conn.syn_seen or conn.synack_seen:
        return moved
    return (f"{moved} in the capture (its opening is not in it: it opened before the "
            "capture started, or the sniffer missed its handshake, and may have carried "
            "more before its first captured packet)")
