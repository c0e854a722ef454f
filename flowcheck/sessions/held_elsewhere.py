"""Connections whose one silent side the capture holds elsewhere (Connection.
side_held_elsewhere): not a capture of one direction.

sessions.classify.one_sided reads a connection alone: no packet of one side, and the
other side's ACKs, data or FIN prove it talked, so the capture lacks that direction (a
SPAN port that sees one way, tcpdump -Q in/out, `src host X`). A capture that holds that
host-to-host direction on other connections (the data connection's packets from the same
host, another connection between the two hosts) is not one of one direction: a side
whose only packets were a FIN and an ACK or two lost them, or the sniffer did (trial 31:
the agent's control FIN removed, its data packets captured). Such a side is marked here,
once per capture, when it sent nothing the capture would need: its bytes the other side
acknowledged are at most a FIN (Connection.*_acked_unseen <= 1: no NDMP message of it
unseen), the other side sent no payload (no ACKs of data missing) and resent nothing
(no wait for the side's ACKs). A side with more than that stays one-sided: its missing
packets hold what a check would read (replies, ACKs of a transfer).
"""

from __future__ import annotations

from collections.abc import Iterable

from flowcheck.model import Connection
from flowcheck.sessions.classify import one_sided


def held_directions(connections: Iterable[Connection]) -> set[tuple[str, str]]:
    """The (sender, receiver) host directions the capture holds a TCP packet of."""
    held: set[tuple[str, str]] = set()
    for conn in connections:
        if conn.orig_pkts:
            held.add((conn.orig_h, conn.resp_h))
        if conn.resp_pkts:
            held.add((conn.resp_h, conn.orig_h))
    return held


def mark_held_elsewhere(connections: list[Connection]) -> int:
    """Set side_held_elsewhere on each connection whose silent side (one_sided) the
    capture holds on other connections and that sent no more than a FIN (module
    docstring); returns how many were marked."""
    lone = [c for c in connections if not (c.orig_pkts and c.resp_pkts)]
    if not lone:
        return 0
    held = held_directions(connections)
    marked = 0
    for conn in lone:
        side = one_sided(conn)
        if side == "resp":
            way, unseen, talker_bytes = (conn.resp_h, conn.orig_h), conn.resp_acked_unseen, \
                conn.orig_bytes
        elif side == "orig":
            way, unseen, talker_bytes = (conn.orig_h, conn.resp_h), conn.orig_acked_unseen, \
                conn.resp_bytes
        else:
            continue
        if way in held and unseen <= 1 and not talker_bytes and not conn.retransmits:
            conn.side_held_elsewhere = True
            marked += 1
    return marked
