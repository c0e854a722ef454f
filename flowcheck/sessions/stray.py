"""A stray copy of another host pair's control SYN: no session of this capture.

A switch that has no entry for a frame's destination MAC address (aged out, not yet
learned) floods the frame to every port. The first SYN of a connection is the frame it
most often floods, before the answer teaches it the port: a capture on a host that is
neither end then holds that one SYN and nothing else of the connection. A capture on one
agent of a three-way job shows the DMA's SYN to the other agent so (trial 27 D2: the
bridge flooded the DMA's SYN to the tape agent to the data agent's port, and back).

Such a SYN is a stray copy when the capture holds nothing else between its two hosts
while its job ran (the capture point is not on their path; the job's time: from the
SYN or the DMA's control connection to the other agent, whichever came first, to that
control connection's or the agents' data connection's last packet: another capture of
the set, a job of the same hosts days before, says nothing of this point's path then,
finalread56a) and the job shows the connection worked: after
it, the two agents' data connection reached an endpoint announced on the same DMA's
control connection to the other agent (the SYN's destination listened there as the
mover, or connected there as the data agent: either needs its control connection).
The flooded frame's MAC address would say so directly; flowcheck keeps none. "After"
and "while" in the capture's order (flowcheck.sessions.file_order: written after, in
one sniffer's file), which a clock set back between the SYN and the data connection
does not undo (review58d: trial27's captures stepped back 2 s after the SYN read a
second session, INCONCLUSIVE, by plain timestamps).
"""

from __future__ import annotations

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Announcement, Connection, NdmpStream
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder


@fields_dataclass(frozen=True, slots=True)
class StraySyn:
    """A lone control SYN between two other hosts, and what shows its job went on."""

    syn: Connection  # the connection the SYN opened: one packet
    announcer: Connection  # the DMA's control connection to the other agent
    announcement: Announcement  # the endpoint announced on it
    reached: Connection  # the two agents' data connection that reached it


def stray_syns(connections: list[Connection], stream_by_uid: dict[str, NdmpStream],
               ndmp_port: int, order: FileOrder = TIME_ORDER) -> dict[str, StraySyn]:
    """The stray copies of control SYNs in the capture (module docstring), by the uid of
    the SYN's connection; order: how the capture orders its events."""
    lone = [c for c in connections if c.resp_p == ndmp_port and _lone_syn(c)]
    if not lone:
        return {}
    pairs: dict[frozenset[str], list[Connection]] = {}
    for conn in connections:
        pairs.setdefault(frozenset((conn.orig_h, conn.resp_h)), []).append(conn)
    by_uid = {c.uid: c for c in connections}
    reaching: dict[tuple[str, int], list[Connection]] = {}
    for conn in connections:
        if connection_outcome(conn) == "established":
            reaching.setdefault((conn.resp_h, conn.resp_p), []).append(conn)
    found: dict[str, StraySyn] = {}
    for syn in lone:
        shown = _went_on(syn, stream_by_uid, by_uid, reaching, ndmp_port, order)
        if shown is not None and not _more_while(shown, pairs[frozenset((syn.orig_h,
                                                                      syn.resp_h))], order):
            found[syn.uid] = shown
    return found


def _more_while(stray: StraySyn, pair: list[Connection], order: FileOrder) -> bool:
    """Does the capture hold another connection of the SYN's two hosts (`pair`: all of
    theirs, the SYN's among them) while its job ran (module docstring: then the capture
    point is on their path)? Each connection from its first to its last packet, in the
    capture's order (order.later: (frame, s))."""
    syn, announcer = (stray.syn.first_frame, stray.syn.ts), \
        (stray.announcer.first_frame, stray.announcer.ts)
    start = syn if order.later(*announcer, *syn) else announcer
    end = syn
    for last in ((stray.announcer.last_frame, stray.announcer.last_ts),
                 (stray.reached.last_frame, stray.reached.last_ts)):
        end = last if order.later(*last, *end) else end
    return any(conn is not stray.syn and order.later(*end, conn.first_frame, conn.ts)
               and order.later(conn.last_frame, max(conn.ts, conn.last_ts), *start)
               for conn in pair)


def _lone_syn(conn: Connection) -> bool:
    """One SYN and nothing else: no answer, no resend, no other packet."""
    return (connection_outcome(conn) == "unanswered" and not conn.syn_retries
            and len(conn.syn_frames) == 1 and conn.orig_pkts == 1 and not conn.resp_pkts)


def _went_on(syn: Connection, stream_by_uid: dict[str, NdmpStream],
             by_uid: dict[str, Connection], reaching: dict[tuple[str, int], list[Connection]],
             ndmp_port: int, order: FileOrder) -> StraySyn | None:
    """The first announcement on the same DMA's control connection to another agent whose
    endpoint a connection between that agent and the SYN's destination reached after the
    SYN (in the capture's order); None when the capture shows none."""
    for stream in stream_by_uid.values():
        control = by_uid.get(stream.uid)
        if (control is None or control.orig_h != syn.orig_h or control.resp_p != ndmp_port
                or control.resp_h == syn.resp_h):
            continue
        agents = {control.resp_h, syn.resp_h}
        for ann in stream.announcements:
            for conn in reaching.get((ann.ip, ann.port), ()):
                if order.later(conn.first_frame, conn.ts, syn.first_frame, syn.ts) \
                        and {conn.orig_h, conn.resp_h} == agents:
                    return StraySyn(syn, control, ann, conn)
    return None
