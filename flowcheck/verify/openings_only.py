"""Captures that hold connections' openings only (field check 36): every connection
its SYNs or SYN-ACKs, never answered (a firewall's capture of the packets it dropped: a
Cisco ASA's asp-drop, a Palo Alto's drop stage), or every connection its handshake only
(a firewall that records each connection's first packets: Check Point fw monitor with
SecureXL on). Read by flowcheck.verify.no_session, flowcheck.verify.evidence and
flowcheck.verify.control_left_out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.model import Connection, endpoint

if TYPE_CHECKING:
    from collections.abc import Sequence


def opening_only(conn: Connection) -> bool:
    """Does the capture hold conn's opening only, never answered: SYNs, or SYN-ACKs,
    without payload, FIN or RST, and no packet the other way?"""
    return (not conn.orig_bytes and not conn.resp_bytes and not conn.fin_frames
            and not conn.rst_frames and not conn.established
            and ((bool(conn.syn_frames) and not conn.resp_pkts)
                 or (bool(conn.synack_frames) and not conn.orig_pkts)))


def openings_words(connections: list[Connection]) -> str:
    """"4 SYNs from 10.77.0.1 to 10.77.1.2:6001, ..." for opening_only connections (the
    first four named)."""
    words = []
    for conn in connections[:4]:
        if conn.syn_frames and not conn.resp_pkts:
            count = conn.orig_pkts
            words.append(f"{count} SYN{'s' if count > 1 else ''} from {conn.orig_h} to "
                         f"{endpoint(conn.resp_h, conn.resp_p)}")
        else:
            count = conn.resp_pkts
            words.append(f"{count} SYN-ACK{'s' if count > 1 else ''} from "
                         f"{endpoint(conn.resp_h, conn.resp_p)} to {conn.orig_h}")
    more = len(connections) - len(words)
    return "; ".join(words) + (f"; and {more} more" if more > 0 else "")


def one_other_port(connections: Sequence[Connection], ndmp_port: int,
                   given_ranges: Sequence[tuple[int, int]] = ()) -> int | None:
    """The one destination port every connection's unanswered SYNs go to, when that
    port is not `ndmp_port`, the SYNs to it are repeated (resent, or several
    connections: a client's retries, as a DMA's to an agent's NDMP port are) and it lies
    in none of `given_ranges` (the media and agent ranges the user set: a port there is a
    callback's or data connection's); None otherwise. newuser68 item 6: 4 SYNs to
    10.68.2.2:10100, an agent listening on 10100 with no --ndmp-port given, read "if this
    is a firewall's drop capture" first, the port last."""
    ports = {c.resp_p for c in connections}
    if (not connections or len(ports) != 1
            or not all(c.syn_frames and not c.resp_pkts and opening_only(c)
                       for c in connections)):
        return None
    port = ports.pop()
    syns = sum(c.orig_pkts for c in connections)
    if port == ndmp_port or syns < 2 or any(lo <= port <= hi for lo, hi in given_ranges):
        return None
    return port


def handshakes_only(connections: Sequence[Connection], ndmp_port: int) -> int:
    """How many connections the capture holds when each of at least three is its
    handshake only (SYN, SYN-ACK, ACK: established, no payload byte, FIN or RST), one of
    them to the NDMP port and one to another port opened after it (a callback or data
    connection, which only NDMP messages the capture lacks can have brought about): a
    firewall recording each connection's first packets (field check 36, SecureXL); 0
    otherwise. Takes the connections, not the checks' Context: context imports the
    checks' modules (control_left_out, which imports this one)."""
    if len(connections) < 3 or any(
            not c.established or c.orig_bytes or c.resp_bytes or c.fin_frames
            or c.rst_frames for c in connections):
        return 0
    control = [c.ts for c in connections if c.resp_p == ndmp_port]
    if not control or not any(c.resp_p != ndmp_port and c.ts > min(control) for c in connections):
        return 0
    return len(connections)
