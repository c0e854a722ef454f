"""Three-way jobs: one data connection announced on two control connections.

In a three-way job (NDMP v4 section 1.4: the data server and the tape server on two
hosts, both driven by one DMA) the DMA opens a control connection to each NDMP server.
One of them listens (MOVER_LISTEN or DATA_LISTEN, the endpoint in its reply) and the
DMA hands that endpoint to the other in a CONNECT request (DATA_CONNECT or
MOVER_CONNECT; v2's DATA_START_* carry it too) on the other control connection; the
other server then connects: one data connection, announced in two sessions.

flowcheck.sessions.matching gives that connection to the first expectation that may
take it; `share_announced` then marks the other session's announcement as reached by
it too (`used_by`), and gives the connection (its failed retries too) to the data
server's session: the one whose control connection carried DATA_LISTEN's reply or the
DATA_CONNECT / DATA_START_* request for it. That session judges it (steps, findings,
the job's direction: DATA_START_BACKUP or _RECOVER is on it); the tape server's
session reads its data steps from there (flowcheck.verify.shared).

Which announcement follows which, and whether the connection came after both, is the
capture's order (flowcheck.sessions.file_order): within one file of one interface a
CONNECT request written after the LISTEN reply, and a connection written after both,
follow them whatever their timestamps (a clock set back between them); else time,
within the jitter of flowcheck.sessions.matching.
"""

from __future__ import annotations

from collections import defaultdict

from flowcheck.model import Announcement, Connection, Session
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.sessions.classify import announcement_groups
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder

# A CONNECT request may be timestamped this long before the LISTEN reply whose endpoint
# it carries (two interfaces merged, a SPAN port): flowcheck.sessions.matching's jitter.
_JITTER_SECONDS = 0.005

_Found = tuple[Session, Announcement]
# (ip, port, listener, the DMA's address, is a CONNECT request): the halves of one job
# share all but the last.
_Key = tuple[str, int, str, str, bool]


def _is_request(ann: Announcement) -> bool:
    """A CONNECT request (or v2 DATA_START_*), not a LISTEN reply
    (flowcheck.ndmp.collector.ANNOUNCERS)."""
    return (ann.message, False) in ANNOUNCERS


def is_data_server(ann: Announcement) -> bool:
    """Was the announcing message sent to or by the data server (DATA_LISTEN's reply,
    DATA_CONNECT, v2's DATA_START_*), not the tape server (MOVER_*)?"""
    return ann.message.removeprefix("NDMP_").startswith("DATA_")


def _key(ann: Announcement, dma: str, request: bool) -> _Key:
    return ann.ip, ann.port, ann.listener, dma, request


def _partner(ann: Announcement, dma: str, used: dict[_Key, list[_Found]],
             replies: dict[_Key, list[Announcement]], by_uid: dict[str, Connection],
             order: FileOrder) -> _Found | None:
    """The announcement in another session of the same DMA that hands `ann`'s endpoint
    on (a LISTEN reply and the CONNECT request after it, same listener, no other LISTEN
    reply of that endpoint between them) and that a connection reached after both, each
    after the other in the capture's order (FileOrder.follows); None when there is
    none. The closest wins: in the file (order.by_frame), else in time."""
    found = []
    for other, known in used.get(_key(ann, dma, not _is_request(ann)), []):
        reply, request = (ann, known) if _is_request(known) else (known, ann)
        conn = by_uid[known.used_by or ""]
        if not (order.follows(request.frame, request.ts, reply.frame, reply.ts,
                              _JITTER_SECONDS)
                and order.follows(conn.first_frame, conn.ts, ann.frame, ann.ts,
                                  _JITTER_SECONDS)):
            continue
        if any(_between(r, reply, request, order)
               for r in replies[_key(reply, dma, False)] if r is not reply):
            continue  # a later LISTEN reply of the endpoint is the one this request carries
        found.append((abs(known.frame - ann.frame), _apart(known, ann, order), other, known))
    if not found:
        return None
    by_frame = order.by_frame(ann.frame, *(item[3].frame for item in found))
    _, _, other, known = min(found, key=lambda item: item[0] if by_frame else item[1])
    return other, known


def _apart(one: Announcement, other: Announcement, order: FileOrder) -> tuple[int, float]:
    """How far apart two announcements are in time: (clock epochs, s) apart, the
    capture's time order (FileOrder.moment: across a clock step back, by epoch first)."""
    return (abs(order.epoch(one.frame) - order.epoch(other.frame)), abs(one.ts - other.ts))


def _between(other: Announcement, reply: Announcement, request: Announcement,
             order: FileOrder) -> bool:
    """Is `other` (a LISTEN reply of the same endpoint) after `reply` and before
    `request`, so the one `request` hands on? Where the file has an order (order.by_frame)
    by it alone: a later job's reply written after the request, though stamped before it
    (the clock set back between the jobs), is not. Else by time, the request stamped at
    most the jitter before it, in (clock epoch, time) (FileOrder.moment: a later job's
    reply stamped after a clock step back is after the earlier job's)."""
    if order.by_frame(reply.frame, other.frame, request.frame):
        return reply.frame < other.frame < request.frame
    after = (other.frame > reply.frame if order.by_frame(reply.frame, other.frame)
             else (order.moment(other.frame, other.ts), other.frame)
             > (order.moment(reply.frame, reply.ts), reply.frame))
    return (after
            and order.follows(request.frame, request.ts, other.frame, other.ts,
                              _JITTER_SECONDS))


def _hand_over(conn_uid: str, endpoint: tuple[str, int], giver: Session, taker: Session,
               by_uid: dict[str, Connection], order: FileOrder) -> None:
    """Move the connection and the failed retries to its endpoint that came after it
    in the capture's order (claimed with it: flowcheck.sessions.matching) from `giver`
    to `taker`."""
    first = order.opened(by_uid[conn_uid])
    moved = [uid for uid in giver.data_connections
             if (by_uid[uid].resp_h, by_uid[uid].resp_p) == endpoint
             and order.opened(by_uid[uid]) >= first]
    for uid in moved:
        giver.data_connections.remove(uid)
        taker.data_connections.append(uid)
        by_uid[uid].session = taker.id
    taker.data_connections.sort(key=lambda uid: order.opened(by_uid[uid]))
    for item in [item for item in giver.address_matched if item[0] in moved]:
        giver.address_matched.remove(item)
        taker.address_matched.append(item)


def share_announced(sessions: list[Session], control_of: dict[str, Connection],
                    by_uid: dict[str, Connection], order: FileOrder = TIME_ORDER) -> None:
    """Announcements no connection reached whose endpoint another session of the same
    DMA handed on and a connection reached (the two halves of a three-way job): used_by
    that connection, which then belongs to the data server's session. order: how the
    capture orders its events (flowcheck.sessions.file_order)."""
    used: dict[_Key, list[_Found]] = defaultdict(list)
    replies: dict[_Key, list[Announcement]] = defaultdict(list)  # LISTEN replies
    for session in sessions:
        dma = control_of[session.id].orig_h
        for ann in session.announced:
            if ann.used_by:
                used[_key(ann, dma, _is_request(ann))].append((session, ann))
            if not _is_request(ann):
                replies[_key(ann, dma, False)].append(ann)
    if not used:
        return
    for session in sessions:
        dma = control_of[session.id].orig_h
        for group in announcement_groups(session.announced):
            if any(a.used_by for a in group):
                continue
            for ann in group:
                found = _partner(ann, dma, used, replies, by_uid, order)
                if found is None:
                    continue
                other, known = found
                ann.used_by = known.used_by
                if is_data_server(ann) and not is_data_server(known):
                    _hand_over(known.used_by or "", (ann.ip, ann.port), other, session, by_uid,
                               order)
                break
