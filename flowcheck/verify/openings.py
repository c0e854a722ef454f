"""Opening handshake packets the sniffer missed, for capture_loss (recheck 25 N3: a data
connection whose SYN, SYN-ACK or whole handshake the capture lacks passed with no word
of capture loss outside step 4's detail).

A handshake packet takes no payload, so the tracker's sequence gaps (missed_bytes) never
count it, as Zeek's do not; but the capture proves it was sent, and passed the capture
point, when:
- the SYN: the responder's SYN-ACK answers one, the originator's own later packets
  (Zeek's upper-case history letters) show its direction passes the capture point, and
  the SYN went after the capture began: the connection reached an endpoint announced
  in the capture before the SYN-ACK, or the SYN-ACK came over a minute of SYN retries
  after the capture's first packet (trial 32: a late capture's SYN-ACKs 0.13 ms and
  0.98 s, a resend, after its start answered SYNs sent before it);
- the SYN-ACK: after the captured SYN the responder ACKed, sent data or closed (Zeek's
  lower-case letters), which it does only once it accepted the connection, and those
  packets show its direction passes here (a SYN-ACK the network lost is resent); not
  when its ACK acknowledged another connection's bytes (a socket that still held the
  4-tuple: flowcheck.sessions.classify.stale_answer, trial 35 D2);
- the whole handshake: the connection reached an announced endpoint whose announcement
  the capture holds before the connection's first packet (it opened while the capture
  ran: flowcheck.verify.details says so in step 4), or it is a session's callback or
  data connection whose control connection's SYN the capture holds before its first
  packet (session_openings; newuser56: a callback's lost handshake gave no word), both
  its directions captured.
Not when a hole of a ring buffer (capture_ring_gap) lies where the missing packet went
(the hole's, not the sniffer's); when the time between two files given in sequence that
no file covers does (flowcheck.sources.file_gaps), the opening is kept with that gap
(MissedOpening.between: sent between the files, not lost by the sniffer; review56e);
nor for a SYN-ACK that is the capture's first packet (the SYN came before the capture
started). A capture filter that kept only some packets of
every connection (flowcheck.sessions.kept) is the caller's to rule out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from operator import attrgetter

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, Connection, RingGap, Session
from flowcheck.sessions.classify import stale_answer

# A callback whose opening the capture lacks was matched only because none into the media
# range whose opening it holds fits (flowcheck.sessions.matching; one to another port, an
# SSH session's, does not displace it: review56j): the words that say so (review56e).
TAKEN_FOR_WANT = ("it was taken as the callback for want of a connection into the media "
                  "range whose opening the capture holds, and a connection open before "
                  "the capture, a keepalive's or a late ACK's, looks the same")

# The longest a missed SYN can lie before its SYN-ACK (SYN retries: several doubled
# retransmission timeouts), for the ring-hole test.
_SYN_BEFORE = 60.0


@fields_dataclass(frozen=True, slots=True)
class MissedOpening:
    """The handshake packet(s) the capture lacks of one connection that went on."""

    conn: Connection
    what: str  # "its SYN (...)", "its SYN-ACK (...)", "its handshake (...)"
    frames: tuple[int, ...]  # the evidence: the answer, the request, the announcement
    ts: float
    # When the missing packet went, as far as the capture tells (the ring-hole test).
    sent_after: float
    sent_by: float
    # The time between two files that no file covers, where the missing packet may have
    # gone (flowcheck.sources.file_gaps): then not the sniffer's loss.
    between: RingGap | None = None
    # Its first captured packet came from the endpoint it reached (an announced
    # listener's): it opened the other way round from what Connection.orig_h shows.
    reverse: bool = False


# Zeek history letters of each side going on after the handshake (ACK, data, FIN):
# isdisjoint reads a history in one C call.
_ORIG_WENT_ON, _RESP_WENT_ON = frozenset("ADF"), frozenset("adf")


def announced_openings(sessions: Iterable[Session]) -> dict[str, Announcement]:
    """Each connection that reached an announced endpoint, by uid: its announcement."""
    return {ann.used_by: ann for session in sessions for ann in session.announced
            if ann.used_by}


def session_openings(sessions: Iterable[Session], connections: Sequence[Connection]
                     ) -> dict[str, int]:
    """Each callback and data connection of a session whose control connection's SYN is
    in the capture, by uid: that SYN's frame. The job opened them after its control
    connection, so after that frame (a callback follows the control connection's
    messages: flow-model.md, steps 1-2)."""
    sessions = list(sessions)
    controls = {session.control_uid for session in sessions}
    if not controls:
        return {}
    syn_frames = {c.uid: c.syn_frames[0] for c in connections
                  if c.uid in controls and c.syn_frames}
    opened = {}
    for session in sessions:
        control_syn = syn_frames.get(session.control_uid)
        if control_syn is None:
            continue
        for uid in (session.callback_uid, *session.data_connections):
            if uid:
                opened[uid] = control_syn
    return opened


def missed_openings(connections: Sequence[Connection],
                    announced: Mapping[str, Announcement],
                    ring_gaps: Sequence[RingGap] = (),
                    opened_after: Mapping[str, int] | None = None, *,
                    start: float | None = None,
                    file_gaps: Sequence[RingGap] = ()) -> list[MissedOpening]:
    """The connections whose opening handshake packets the sniffer missed (module
    docstring), in the order of their first packet. opened_after: per connection uid, a
    captured frame its SYN came after (session_openings). start: the capture's first
    packet (seconds, capture clock; Census.first_ts), when known: connections may then
    be those that lack a SYN or SYN-ACK alone (Census.unopened). file_gaps: the time
    between files given in sequence that no file covers (sources.file_gaps): an opening
    that may have gone then is kept with the first such gap (MissedOpening.between)."""
    if not connections:
        return []
    if start is None:
        start = min(map(attrgetter("ts"), connections))
    holes = [gap for gap in ring_gaps if not gap.head]
    after = opened_after or {}
    found = []
    for conn in connections:
        # _missed's usual cases, without a call per connection: a SYN answered by a
        # captured SYN-ACK, or one the responder sent nothing after (none was sent).
        if conn.syn_frames and (conn.synack_frames
                                or _RESP_WENT_ON.isdisjoint(conn.history)):
            continue
        missed = _missed(conn, announced.get(conn.uid), start, after.get(conn.uid))
        if missed is not None and not any(gap.start < missed.sent_by
                                          and gap.end > missed.sent_after for gap in holes):
            between = next((gap for gap in file_gaps if gap.start < missed.sent_by
                            and gap.end > missed.sent_after), None)
            found.append(missed if between is None else replace(missed, between=between))
    return found


def _missed(conn: Connection, ann: Announcement | None, start: float,
            opened_after: int | None = None) -> MissedOpening | None:
    if conn.syn_frames and conn.synack_frames:
        return None  # the usual case, first: a capture may hold 200,000 connections
    history = conn.history
    # Which of the three cases below can hold follows from the SYN and the SYN-ACK
    # alone: the history's letters are read for that case only.
    if conn.synack_frames:  # no SYN
        if _ORIG_WENT_ON.isdisjoint(history):
            return None
    elif conn.syn_frames:  # no SYN-ACK
        if _RESP_WENT_ON.isdisjoint(history) or stale_answer(conn):
            return None  # no answer, or a stale socket's ACK: no SYN-ACK was sent
    elif (ann is None or ann.frame >= conn.first_frame) and (
            opened_after is None or opened_after >= conn.first_frame):
        return None
    orig_went_on = not _ORIG_WENT_ON.isdisjoint(history)
    resp_went_on = not _RESP_WENT_ON.isdisjoint(history)
    if not conn.syn_seen and conn.synack_seen and orig_went_on:
        frame, ts = conn.synack_frames[0], conn.synack_ts or conn.ts
        if not _syn_went_after(ts, frame, ann, start, opened_after):
            return None
        return MissedOpening(conn, f"its SYN, which the SYN-ACK of {frame_text(frame)} answers",
                             (frame,), ts, ts - _SYN_BEFORE, ts)
    if conn.syn_seen and not conn.synack_seen and resp_went_on:
        frame, ts = conn.syn_frames[0], conn.syn_ts or conn.ts
        return MissedOpening(conn, f"its SYN-ACK, answering the SYN of {frame_text(frame)} (the "
                             "responder went on to send)", (frame,), ts, ts, conn.last_ts)
    if not conn.syn_seen and not conn.synack_seen and ann is not None \
            and ann.frame < conn.first_frame and orig_went_on and resp_went_on:
        return MissedOpening(
            conn, f"its handshake: it reached the endpoint "
            f"{ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)}) announced, so it "
            f"opened after that, and its first packet captured is {frame_text(conn.first_frame)}",
            (ann.frame, conn.first_frame), conn.ts, ann.ts, conn.ts,
            reverse=(conn.orig_h, conn.orig_p) == (ann.ip, ann.port))
    if not conn.syn_seen and not conn.synack_seen and opened_after is not None \
            and opened_after < conn.first_frame and orig_went_on and resp_went_on:
        # A callback's (or a data connection's) of a session whose control connection's
        # SYN the capture holds before it (newuser56: the callback's handshake cut, frames
        # 17-19, gave no word, the data connection's did). When it went is known only as
        # after the capture's first packet: the ring-hole test takes that, the widest.
        return MissedOpening(
            conn, f"its handshake: its session's control connection opened in the capture "
            f"before it (SYN {frame_text(opened_after)}), so it opened after that, and its first "
            f"packet captured is {frame_text(conn.first_frame)}"
            + (f" ({TAKEN_FOR_WANT}: if it is such a connection, no handshake "
                 "was lost)"
               if conn.role == "callback" else ""),
            (opened_after, conn.first_frame), conn.ts, start, conn.ts)
    return None


def _syn_went_after(synack_ts: float, synack_frame: int, ann: Announcement | None,
                    start: float, opened_after: int | None = None) -> bool:
    """Whether the capture proves the SYN answered by the SYN-ACK (epoch seconds, frame
    number) went after the capture's first packet (start, epoch seconds): the connection
    reached an endpoint announced in the capture before the SYN-ACK, or its session's
    control connection opened in the capture before it (opened_after: that SYN's frame;
    a callback whose SYN the sniffer lost), or the SYN-ACK came
    more than the longest a SYN can lie before it (_SYN_BEFORE) after start. A SYN-ACK
    sooner may answer a SYN sent before the capture began, within one RTT or through
    resends (trial 32: a SYN-ACK 0.98 s after start was the responder's resend, its first
    lost by the network, of the answer to a SYN 37 ms before the capture began)."""
    if ann is not None and ann.frame < synack_frame:
        return True
    if opened_after is not None and opened_after < synack_frame:
        return True
    return synack_ts - _SYN_BEFORE > start
