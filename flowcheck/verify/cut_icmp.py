"""The words for ICMP unreachables whose quote the snap length cut (field check 46).

A cut quote names no 4-tuple: flowcheck.connections.icmp_cut ties it to the one
connection attempt its addresses and time fit (Connection.icmp_cut), or, when several
fit, to none (Connection.icmp_untied on each). A tie is said to be one of addresses and
time; an untied message is named where "no ICMP" would otherwise be said, never read as
a refusal.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection
from flowcheck.sessions.local import icmp_word
from flowcheck.verify.syn_too_big import syn_too_big_tail
from flowcheck.verify.ttl_exceeded import ttl_exceeded, ttl_exceeded_tail


def _packet(conn: Connection, to: str | None) -> str:
    """The packet a message about `conn` sent to `to` answers: its SYN or SYN-ACK."""
    return "SYN-ACK" if to == conn.resp_h and to != conn.orig_h else "SYN"


def cut_tie_words(conn: Connection) -> str:
    """" (its quote cut by the snap length ...: tied by addresses and time ...)" for a
    connection whose first ICMP unreachable was tied so (Connection.icmp_cut), else ""."""
    if conn.icmp_cut is None or not conn.icmp_frames:
        return ""
    kept, delay, source = conn.icmp_cut
    to = conn.icmp_to or conn.orig_h
    other = conn.resp_h if to == conn.orig_h else conn.orig_h
    packet = _packet(conn, to)
    if source == "host":
        # Its address, not the host: a router may reject in its name (own_reject; review
        # 56m: "sent by fd77::2 itself" beside "or a router in front of fd77::2").
        who = (f"sent from {conn.icmp_sender}'s own address {span_words(delay)} after the "
               f"{packet}")
        only = f"the only connection attempt between {to} and {other} then"
    else:
        who = (f"sent by {conn.icmp_sender}"
               f"{' to itself' if source == 'own' else ', not an end of it,'} "
               f"{span_words(delay)} after the {packet}")
        only = f"the only connection attempt of {to} then"
    return (f" ({frame_text(conn.icmp_frames[0])}: the capture's snap length cut its quote after "
            f"{kept:,} bytes of the quoted packet, before the TCP ports; tied to this "
            f"connection by addresses and time: {who}, {only})")


def untied_words(conn: Connection) -> str:
    """What the capture holds of an ICMP unreachable with a cut quote that may answer
    this connection but was tied to none (Connection.icmp_untied), else ""."""
    if conn.icmp_untied is None:
        return ""
    frame, delay, sender, attempts = conn.icmp_untied
    return (f"an {icmp_word(conn)} unreachable whose quote the capture's snap length cut "
            f"({frame_text(frame)}) came from {sender} {span_words(delay)} after a SYN or SYN-ACK "
            f"of it, but {attempts} "
            f"connection attempts fit it then (addresses and time), so it is tied to none: "
            "it may be this one's reject (capture with tcpdump -s 0 to read whose)")


def unanswered_tail(conn: Connection) -> str:
    """The end of "unanswered: N SYNs over T s": ", no SYN-ACK, RST or ICMP", or what
    the capture holds of an untied cut ICMP message instead of "no ICMP"."""
    if ttl_exceeded(conn):
        return ttl_exceeded_tail(conn)
    untied = untied_words(conn)
    if not untied:
        too_big = syn_too_big_tail(conn)  # path MTU's message, no reject
        return f", no SYN-ACK or RST{too_big}" if too_big else ", no SYN-ACK, RST or ICMP"
    return f", no SYN-ACK or RST; {untied}"


def no_answer_words(conn: Connection, passive: bool = False, unseen: bool = False) -> str:
    """"never got an answer" ("was never answered" where passive), or "got no SYN-ACK or
    RST" where an untied cut ICMP message may be the connection's reject (the capture may
    hold its answer), or "got no answer in the capture" where the capture lacks the
    answer's direction (`unseen`: a reject travels that way, so "never" cannot be seen:
    lab matrix seed 112 run 15)."""
    if conn.icmp_untied is not None or ttl_exceeded(conn):
        return "got no SYN-ACK or RST"
    if unseen:
        return "got no answer in the capture"
    return "was never answered" if passive else "never got an answer"
