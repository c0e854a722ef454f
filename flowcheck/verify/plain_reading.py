"""profile_inferred: a capture of plain NDMP analyzed with no profile given is judged by
the ndmp profile, not failed for the Backup Exec callback it never needed.

With no profile given (no --profile, none in the configuration file) flowcheck's default
is backup-exec-9, whose step 2 is the agent's callback to the job engine. Plain NDMP
(Amanda's ndmjob, a filer's NDMP server) never calls back, so a capture of its job read
FAIL, step_missing and step_out_of_order, though the job moved its data and halted with
success (new-user trial 54: captures/ndmjob/v4-backup.pcap, exit 1, the fix itself saying
`--profile ndmp`). A job cannot have failed for want of a callback it never needed: when
the capture shows plain NDMP's sequence and no sign of Backup Exec, it is judged by the
ndmp profile and an info finding says so up front.

The capture reads as plain NDMP when, over its judged sessions (not side traffic):
- none shows a Backup Exec sign: no vendor message (Backup Exec's job engine port travels
  in one: ndmp_vendor_message); no callback before the announcements (a connection from
  the agent into the media range read as one, whatever its outcome, that opened before
  every announcement with the mover listening: Backup Exec's agent calls back first;
  one after such an announcement is plain NDMP's data connection to the mover; one whose
  SYN the capture lacks may have opened before, review54j), nor
  candidates for one; without a callback, no step 2 other than `missing` or
  `not_applicable` (an `unknown` one is no evidence either way: the capture may have
  left the callback out) unless the stretch where the callback would be was captured
  (_callback_would_show: the first mover-listening announcement read whole, the control
  connection's SYN, or the session's first NDMP message, before it: a capture started a
  moment late, latestart; no filter nor sniffer hole between); and no hole in its
  control stream, before its first announcement, that may have held one (NdmpStream.holes
  whose messages the sequence numbers do not name, or a record header the snap length
  cut: NdmpStream.snap_lost): the absence of a vendor message the capture lost is no
  evidence (review54g: lab/agent-connects-data without frames 15-19, its vendor message
  and callback lost by the sniffer, read PASS by the ndmp profile); nor, when the capture
  lacks the control connection's SYN and the session's first NDMP message
  (stream_opening), a hole of a ring buffer (capture_ring_gap, or the
  ring's lost head) before its first mover-listening announcement: the connection may
  have opened in it, its vendor message with it (_gap_may_hide, review54j). A ring's hole
  between the SYN and that announcement leaves the stretch where a callback would show
  uncaptured (_callback_would_show);
- at least one announcement has the media server's mover listening (MOVER_LISTEN reply,
  DATA_CONNECT, v2's DATA_START_*: the agent connects, plain NDMP's three-way backup),
  none has the agent listening (Backup Exec's direction: DATA_LISTEN).
A Backup Exec job whose callback a firewall blocks keeps its vendor message (or its
callback's SYNs) and still fails (captures/trial26-middlebox, field38-matrix).
A callback as read whose endpoint a GET_STATE reply of the session names as the data
connection's is plain NDMP's data connection to the mover (_named_data), no sign.

Each session is read so on its own (plain_sessions): when only some judged sessions read
as plain NDMP, those alone are judged by the ndmp profile (flowcheck.mixed_reading,
newuser56: a capture set of two kinds of job). One refused the reading only for what the
capture may lack has its data connection opened the other way `unknown`
(flowcheck.verify.profile_doubt).
"""

from __future__ import annotations

from collections.abc import Sequence

from flowcheck.config import Config
from flowcheck.findings import make_finding
from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Announcement,
    Connection,
    Finding,
    NdmpMessage,
    NdmpStream,
    RingGap,
    Session,
)
from flowcheck.ndmp.listeners import listener_of, mover_announcements
from flowcheck.profiles import Profile
from flowcheck.sessions.classify import FIRST_REQUEST, GREETING, OPENING_REASONS, message_op
from flowcheck.sessions.named import named_endpoints

PLAIN_PROFILE = "ndmp"
_NO_SIGN = ("missing", "not_applicable")


def may_infer(config: Config, profile: Profile) -> bool:
    """Whether a capture analyzed with `config` may be read as plain NDMP at all: no
    profile given (the default in force), and the default's shape (a callback
    connection, the media server connecting)."""
    return ("profile" not in config.explicit and config.profile == Config().profile
            and profile.callback == "connection" and profile.connector == "media_server")


def plain_announcements(sessions: Sequence[Session], findings: Sequence[Finding],
                        connections: Sequence[Connection], streams: Sequence[NdmpStream],
                        config: Config, profile: Profile, *,
                        ring_gaps: Sequence[RingGap]) -> list[Announcement]:
    """The mover-listening announcements (time order) of a capture that reads as plain
    NDMP (module docstring) analyzed with the default profile, none given: every judged
    session reads so (plain_sessions; `ring_gaps`: Traffic.ring_gaps); [] otherwise."""
    if any(f.code == "ndmp_vendor_message" for f in findings):
        return []
    return whole_plain(sessions, findings, plain_sessions(
        sessions, findings, connections, streams, config, profile, ring_gaps=ring_gaps))


def whole_plain(sessions: Sequence[Session], findings: Sequence[Finding],
                plain: dict[str, list[Announcement]]) -> list[Announcement]:
    """plain_announcements from plain_sessions' answer (`plain`) already made: the
    mover-listening announcements in time order when every judged session reads plain
    and no vendor message was decoded; [] otherwise."""
    judged = [s for s in sessions if not s.side]
    if any(f.code == "ndmp_vendor_message" for f in findings) or not judged \
            or len(plain) < len(judged):
        return []
    return sorted((a for shown in plain.values() for a in shown), key=lambda a: a.frame)


def plain_sessions(sessions: Sequence[Session], findings: Sequence[Finding],
                   connections: Sequence[Connection], streams: Sequence[NdmpStream],
                   config: Config, profile: Profile, *,
                   ring_gaps: Sequence[RingGap]) -> dict[str, list[Announcement]]:
    """The judged sessions (not side traffic) that read as plain NDMP (module
    docstring), by id, each with its mover-listening announcements, and those that show
    neither plain NDMP nor Backup Exec (no such announcement, no sign): []; {} when the
    profile was given or is not the default's shape (a callback connection, the media
    server connecting), or a vendor message tied to no session may be any one's. A
    session with a Backup Exec sign, or a control stream's or a ring buffer's hole that
    may hide one (`streams`: the control streams, by uid; `ring_gaps`: Traffic.ring_gaps,
    in time order), is not in it: a capture set may hold a
    Backup Exec job beside a plain NDMP one (newuser56: ndmjob/v4-backup.pcap given with
    lab/clean-3-resources.pcap), each judged by its own reading (pipeline.analyze)."""
    if not may_infer(config, profile):
        return {}
    judged = [s for s in sessions if not s.side]
    signed = vendor_signed(judged, findings)
    if signed is None:
        return {}
    by_uid = {c.uid: c for c in connections}
    by_stream = {s.uid: s for s in streams}
    kinds = [spec.kind for spec in profile.steps]
    plain: dict[str, list[Announcement]] = {}
    for session in judged:
        callback = by_uid.get(session.callback_uid or "")
        named = _named_data(session, callback, by_stream.get(session.control_uid))
        movers = mover_announcements(session) + ([named] if named else [])
        if session.id not in signed and _reads_plain(
                session, movers, None if named else callback, by_uid, by_stream, findings,
                kinds, ring_gaps):
            plain[session.id] = movers
    return plain


def vendor_signed(judged: Sequence[Session], findings: Sequence[Finding]) -> set[str] | None:
    """The ids of the sessions an ndmp_vendor_message finding (a Backup Exec sign) is tied
    to, by its session or its control connection among `judged`; None when one is tied to
    no known session: any one's sign."""
    controls = {s.control_uid: s.id for s in judged}
    signed = {f.session or controls.get(f.uid or "")
              for f in findings if f.code == "ndmp_vendor_message"}
    return None if None in signed else {sid for sid in signed if sid is not None}


def _named_data(session: Session, callback: Connection | None,
                stream: NdmpStream | None) -> Announcement | None:
    """The session's callback as read, when a GET_STATE reply of its control stream
    names the callback's endpoint (at the media server) as the data connection's
    (sessions.named.named_endpoints): plain NDMP's data connection to the mover, not
    Backup Exec's callback (whose agent's data connection address is its own, DATA_LISTEN).
    As an announcement with the mover listening, at the naming reply's frame (its time
    unknown here: 0); None otherwise. newuser56: ndmjob/v4-backup.pcap's agent direction
    alone (its DATA_CONNECT request not in it) read the 2 MB data connection as the
    callback, step 2 ok beside step 3 "no data connection carried the job's data"."""
    if callback is None:
        return None
    named = named_endpoints(stream).get((callback.resp_h, callback.resp_p))
    if named is None:
        return None
    return Announcement(session.control_uid, callback.resp_h, callback.resp_p, named[0],
                        0.0, named[1], "mover")


def _reads_plain(session: Session, movers: list[Announcement], callback: Connection | None,
                 by_uid: dict[str, Connection], by_stream: dict[str, NdmpStream],
                 findings: Sequence[Finding], kinds: list[str],
                 ring_gaps: Sequence[RingGap]) -> bool:
    """Does `session` (no vendor message of its own) show no sign of Backup Exec: the
    module docstring's conditions but the vendor message's and the mover listening (a
    session without announcements passes); `movers`: its announcements with the mover
    listening (_named_data's among them), `callback` its callback (None when none, or
    when it is _named_data's data connection), `kinds` the default profile's step kinds
    in order, `ring_gaps` the ring buffer's holes."""
    if any(a.listener != "mover" for a in session.announced) or any(
            listener_of(name) != "mover" for _, name, _ in session.cut_announcements):
        return False  # the agent listening: Backup Exec's direction
    if session.callback_ambiguous or _sign_hidden(by_stream.get(session.control_uid), movers):
        return False
    if _gap_may_hide(by_uid.get(session.control_uid),
                     stream_opening(by_stream.get(session.control_uid)), movers, ring_gaps):
        return False
    if callback is not None and (not callback.syn_seen or all(
            a.frame > callback.first_frame for a in movers)):
        # Opened before any announcement with the mover listening: Backup Exec's agent
        # calls back before the data port is announced (verify.plain_direction). One
        # after it is plain NDMP's data connection to the mover read as the callback
        # (captures/trial34-big/ndmjob-snap96-default-profile). When it opened is its
        # SYN's time: without one, its first captured packet (an idle callback's FIN
        # at the job's end) may come long after a callback opened first (review54j).
        return False
    # A callback (that read as one: _named_data's data connection too) is no sign of a
    # step the capture may have left out.
    return callback is not None or session.callback_uid is not None or all(
        step.status in _NO_SIGN
        for step, kind in zip(session.steps, kinds, strict=False) if kind == "callback"
    ) or _callback_would_show(session, by_uid, by_stream, findings, ring_gaps)


def _callback_would_show(session: Session, by_uid: dict[str, Connection],
                         by_stream: dict[str, NdmpStream], findings: Sequence[Finding],
                         ring_gaps: Sequence[RingGap]) -> bool:
    """Would a Backup Exec callback be in the capture, had the session's job made one?
    Its agent calls back before the data port is announced (flow-model.md's step order),
    so when (a) the session's first mover-listening announcement was read whole (none
    whose address the snap length cut comes first), (b) the control connection's SYN, or
    the session's first NDMP message (_seen_from_start: a capture started between the
    handshake and the agent's greeting), is in the capture before it, (c) no
    capture_filtered finding, and neither a hole in the control stream or connection
    (StreamHole, Connection.gap_frames), a capture_loss finding (a frame, or none named)
    at or before it nor a hole of a ring buffer between the SYN (the session's first
    message, when captured: no sign comes before it) and it (`ring_gaps`: its packets in
    no file, review54j), then the stretch from there to the announcement was captured,
    (d) in at least one direction (the control connection's packets at both ends of it);
    a callback there shows packets either way (the agent's SYNs, or the media server's
    SYN-ACK or RST from a media port).
    Its step 2 `unknown` (the capture ended early, or holds one direction) is then no
    sign of Backup Exec (newuser55: v4-backup.pcap cut after frame 2150, or its media
    server's side alone, read FAIL step_out_of_order)."""
    whole = [a for a in session.announced if a.listener == "mover"]
    if not whole:
        return False  # (a)
    first = min(a.frame for a in whole)
    if any(frame <= first for frame, _name, _uid in session.cut_announcements):
        return False  # (a): an announcement before it, its address cut
    control = by_uid.get(session.control_uid)
    stream = by_stream.get(session.control_uid)
    if control is None or not _seen_from_start(control, stream, first):
        return False  # (b), and with it (d)
    if any(f.code == "capture_filtered" for f in findings):
        return False  # (c): the capture filter may have left the callback out
    if any(f.code == "capture_loss" and (not f.frames or min(f.frames) <= first)
           for f in findings):
        return False  # (c): the sniffer lost packets in the stretch, or may have
    announced = min(a.ts for a in whole if a.frame == first)
    # The stretch starts at the session's first NDMP message when it is captured (no
    # sign comes before it), else at the control connection's first packet, its SYN.
    opening = stream_opening(stream)
    since = control.ts if opening is None else max(control.ts, opening.ts)
    if any(gap.end > since and gap.start < announced for gap in ring_gaps):
        return False  # (c): a ring's hole in the stretch
    holes = [h.frame for h in stream.holes] if stream is not None else []
    return not any(frame <= first for frame in holes + list(control.gap_frames))  # (c)


def _seen_from_start(control: Connection, stream: NdmpStream | None, first: int) -> bool:
    """(b) of _callback_would_show: is the control connection's SYN (or SYN-ACK), or the
    session's first NDMP message (stream_opening), in the capture before frame `first`
    (its first mover-listening announcement)? Backup Exec's signs come after that
    message: its vendor message is a request on the opened session, and its agent calls
    back to the job engine port the control connection carries (flow-model.md, step 1),
    so once it is captured nothing of them can have come before the capture started.
    The handshake alone missing (a capture started a moment late) is no reason to doubt
    (latestart: ndmjob/v4-backup.pcap from frame 4, its greeting first, read FAIL
    step_out_of_order where the whole file reads PASS)."""
    if control.syn_frames and min(control.syn_frames) < first:
        return True
    opening = stream_opening(stream)
    return opening is not None and opening.frame < first


def stream_opening(stream: NdmpStream | None) -> NdmpMessage | None:
    """The control stream's first message read (by frame) when it is the session's own
    first: the agent's greeting (NOTIFY_CONNECTED, v4's NOTIFY_CONNECTION_STATUS, sent as
    soon as the connection is accepted) or the DMA's CONNECT_OPEN request (its first,
    answering the greeting; nothing else may precede it: NDMP v4 section 3.2,
    sessions.classify); None when the stream starts later (a record the snap length
    cut, or any other message first: the capture joined the session after it opened) or
    holds no message. Every later message of the session was then sent while the
    capture ran. The same post with the reason SHUTDOWN is the agent's notice that it
    ends the session, its last message, no greeting (review56i: v4-backup.pcap kept from
    a SHUTDOWN notice in frame 2160's place said "the session's first NDMP message is
    (the agent's greeting ...): nothing of its job came before the capture"); one whose
    reason the snap length cut counts only with the DMA's CONNECT_OPEN request next,
    which is then the opening."""
    if stream is None or not stream.messages:
        return None
    first, *rest = sorted(stream.messages, key=lambda m: m.frame)
    if _first_request(first):
        return first
    if message_op(first) != GREETING:
        return None
    reason = first.body.get("reason")
    if reason in OPENING_REASONS:
        return first
    return rest[0] if reason is None and rest and _first_request(rest[0]) else None


def _first_request(message: NdmpMessage) -> bool:
    """Is `message` the DMA's CONNECT_OPEN request (stream_opening)?"""
    return message_op(message) == FIRST_REQUEST and message.type == "request"


def opening_words(opening: NdmpMessage) -> str:
    """stream_opening's message as the reports name it: "the agent's greeting,
    NOTIFY_CONNECTED, frame 1" or "the DMA's CONNECT_OPEN request, frame 3"."""
    if message_op(opening) == GREETING:
        return f"the agent's greeting, {GREETING}, {frame_text(opening.frame)}"
    return f"the DMA's {FIRST_REQUEST} request, {frame_text(opening.frame)}"


def _gap_may_hide(control: Connection | None, opening: NdmpMessage | None,
                  movers: Sequence[Announcement], ring_gaps: Sequence[RingGap]) -> bool:
    """May a hole of a ring buffer (`ring_gaps`, the ring's lost head included) hold the
    session's vendor message (a Backup Exec sign, sent between the control connection's
    opening and its first mover-listening announcement, `movers`; any point without one
    of known time) though the control stream shows no hole? When the capture lacks the
    control connection's SYN and a ring hole starts before that announcement: the
    connection may have opened in the hole or before it, its first messages with it, and
    a stream that starts after them has no hole to tell (review54j: plain_announcements
    never read the ring's holes). A hole after the SYN, or after the session's first NDMP
    message (`opening`: stream_opening, the stream captured from its start), cuts the
    stream: NdmpStream.holes says so (_sign_hidden), and _callback_would_show reads it
    for the callback."""
    if control is not None and control.syn_seen or opening is not None:
        return False
    # _named_data's announcement has no time of its own (0): any point.
    first = min((a.ts for a in movers if a.ts > 0), default=float("inf"))
    return any(gap.start < first for gap in ring_gaps)


def _sign_hidden(stream: NdmpStream | None, movers: Sequence[Announcement]) -> bool:
    """May the control stream have lost a vendor message (a Backup Exec sign) before its
    first mover-listening announcement (`movers`; any point without one)? A hole whose
    messages the NDMP sequence numbers do not name (StreamHole.held None: a message that
    was read whole is named, a vendor one shown as such), or a record header the snap
    length cut (snap_lost: its code unread)."""
    if stream is None:
        return False
    first = min((a.frame for a in movers), default=None)
    return stream.snap_lost > 0 or any(
        hole.held is None and (first is None or hole.frame <= first) for hole in stream.holes)


def profile_inferred(shown: list[Announcement], default: Profile,
                     streams: Sequence[NdmpStream]) -> Finding:
    """The info finding that says the capture is judged by the ndmp profile: which
    announcements show plain NDMP (their frames; dated by the first one's message in
    `streams`, the control streams: an announcement whose address the snap length cut
    has no time of its own), what shows no Backup Exec, and how to choose."""
    first, ts, which = first_shown(shown, streams)
    return make_finding(
        "profile_inferred",
        f"This capture reads as plain NDMP, so it is judged by the {PLAIN_PROFILE} profile: "
        f"no profile was given (the default is {default.name}), and the capture shows no "
        "sign of Backup Exec (no vendor message, no callback from the agent to the job "
        "engine before a data endpoint was announced) while its announcements have the "
        "media server's mover listening and the "
        f"agent connecting ({which}), plain NDMP's three-way backup. The {default.name} "
        "profile's callback step does not apply to such a job.",
        f"Nothing to change if this is plain NDMP (Amanda's ndmjob, a filer's NDMP server): "
        f"give --profile {PLAIN_PROFILE} (or profile = \"{PLAIN_PROFILE}\" in flowcheck.toml)"
        f" to say so. If it is Backup Exec, give --profile {default.name}: its agent's "
        "callback missing is then a failure.",
        frames=[first.frame], ts=ts)


def first_shown(shown: Sequence[Announcement], streams: Sequence[NdmpStream]
                ) -> tuple[Announcement, float | None, str]:
    """The first of `shown` (time order), its time (its message's in `streams`, the
    control streams: an announcement whose address the snap length cut has no time of
    its own; None when unknown) and shown_words'."""
    first = shown[0]
    ts = next((m.ts for stream in streams for m in stream.messages
               if m.frame == first.frame), first.ts or None)
    return first, ts, shown_words(shown)


def shown_words(shown: Sequence[Announcement]) -> str:
    """The first of `shown` (time order) by message and frame, how many more: "DATA_CONNECT,
    frame 11, 1 more"; a GET_STATE reply (_named_data) says what it names."""
    first = shown[0]
    more = f", {len(shown) - 1} more" if len(shown) > 1 else ""
    named = ("" if listener_of(first.message) else
             f" naming the data connection to {first.ip}:{first.port}, at the media server")
    return f"{first.message.removeprefix('NDMP_')}, {frame_text(first.frame)}{named}{more}"
