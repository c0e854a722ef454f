"""Step 2's note when the callback's session is a guess (trial 25).

The agent's callback names no session: flowcheck.sessions.matching gives it to the open
session whose data connection (or end) comes first. Two sessions of one agent and media
server open at once, the other one left without a callback, make that order the only
tie: a capture of the media server's packets alone (`tcpdump -Q out`) matches data
connections by ports only later, and then nothing in the capture tells which job the
agent called back. The note names the other sessions, so a step 2 `ok` beside another
session's `unknown` is read as one callback for two jobs, not as proof. A session that
asked nothing (sessions.classify.asked_nothing: a port check) is due no callback and is
never named. Nor is an order the only tie when both sessions have a callback open before
the capture, each in the other's window: which is whose the capture cannot tell either
(review58a). The sessions named go to the JSON too (Session.callback_tied_with,
`sessions[].callback_tied_with`: newuser59's cut of concurrent-jobs.pcap from frame 50
paired the callbacks the reverse of the whole capture's, the JSON saying nothing), and,
when every callback of the tie worked, the note says the pairing changes no verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, endpoint
from flowcheck.sessions import CALLBACK_SLACK_SECONDS
from flowcheck.sessions.callback_from_ack import silent_unopened
from flowcheck.sessions.classify import asked_nothing, connection_outcome, end_of
from flowcheck.sessions.only_closing import close_ts
from flowcheck.verify.context import Context
from flowcheck.verify.evidence import is_open, judged
from flowcheck.verify.step_base import ports_in_range
from flowcheck.verify.tied_words import others_and, shown_count


def tie_note(ctx: Context, session: Session, conn: Connection) -> tuple[str, list[str]]:
    """(words, session ids) of a callback tied to its session by order, ("", []) when
    it is not. The words "tied to this session by order: S2 (control C2) was open too
    ..." when another judged session of the same agent and media server, without a
    callback of its own and not a port check, had its control connection open when the
    callback opened (its callback window: from its opening to CALLBACK_SLACK_SECONDS
    after its end, in the file's order where it has one: flowcheck.sessions.file_order);
    the ids, those other sessions' the words name. They name all up to TIED_SHOWN + 1,
    past that the first TIED_SHOWN and how many others (tied_words.others_and): with
    callbacks open before the capture each of 300 jobs named all 299 others, 10.6 KB a
    note (tiecap). With callbacks that may be each other's (_swappable) the words add,
    when this one and every other worked (opened, ports in range: _own_worked, found
    once per session), that the pairing changes no step's status. Not two callbacks
    each held only closing beside its own session's close (Session.callback_closing):
    their closes told them apart (cbmix63)."""
    others: list[Session] = []
    unopened: list[Session] = []
    # Another session with a callback is named only when both callbacks were open before
    # the capture (_swappable): asked once, not once per session (1,000 jobs of one host
    # pair: 1,000,000 connection_outcome calls, 90% of verify).
    swappable = connection_outcome(conn) == "midstream"
    for other in ctx.sessions:
        if (other is session or other.side or (other.callback_uid is not None
                                                and not swappable)
                or (other.remote_agent, other.media_server)
                != (session.remote_agent, session.media_server)):
            continue
        control = ctx.by_uid[other.control_uid]
        if not (ctx.order.open_at(conn, control, end_of(control) + CALLBACK_SLACK_SECONDS)
                and not asked_nothing(control)):
            continue
        if other.callback_uid is None:
            if session.callback_closing and _has_own_closing(other, control):
                # Named by its close beside this session's, the other's callback may be
                # a connection of its own closing (lab/concurrent-jobs.pcap from frame
                # 894 and 897: "seen only closing" beside "tied by order" to the job
                # whose callback 6087 -> 5051 closed there).
                continue
            if ctx.order.follows(conn.first_frame, conn.ts, control.first_frame, control.ts):
                others.append(other)
        elif not others and not (session.callback_closing and other.callback_closing) \
                and _swappable(ctx, session, ctx.by_uid[other.callback_uid], control):
            # Two callbacks each named by its close beside its own control connection's
            # (sessions.only_closing.name_closing_callbacks) are told apart, not by order.
            unopened.append(other)
    if others:
        one = len(others) == 1
        return (f"tied to this session by order: {_names(others, False)} "
                f"{'was' if one else 'were'} open too when it opened, without a callback "
                f"of {'its' if one else 'their'} own, and a callback names no session: "
                "which of them the agent called back the capture cannot tell"), _ids(others)
    if unopened:
        one = len(unopened) == 1
        worked = _own_worked(ctx, session) and all(_own_worked(ctx, other)
                                                   for other in unopened)
        return (f"tied to this session by order: {_names(unopened, True)} "
                f"{'was' if one else 'were'} open too, {'its' if one else 'their'} "
                "callback open before the capture as this one, and a callback names no "
                "session: which job the agent called back on each the capture cannot tell"
                + ("; each callback worked (opened, its ports in range), so either pairing "
                   "gives every job's step 2 the same status: the verdict does not hang on it"
                   if worked else "")), _ids(unopened)
    return "", []


def _names(tied: Sequence[Session], callback: bool) -> str:
    """"S2 (control C2)" ("S2 (control C2, callback C9)" with `callback`), joined by
    others_and: only the sessions shown (tied_words.shown_count) are put in words."""
    shown = shown_count(len(tied))
    labels = [f"{other.id} (control {other.control_uid}"
              + (f", callback {other.callback_uid})" if callback else ")")
              for other in tied[:shown]]
    return others_and(labels + [other.id for other in tied[shown:]])


def _ids(tied: Sequence[Session]) -> list[str]:
    """Session.callback_tied_with: the ids of the sessions the words name (at most
    TIED_SHOWN + 1: docs/json.md)."""
    return [other.id for other in tied[:shown_count(len(tied))]]


def _own_worked(ctx: Context, session: Session) -> bool:
    """_worked for the session's own callback, found once per session
    (Context.callback_worked): each of k tied sessions' notes asks about the k - 1
    others', and asking each pair both ways was 4 evidence.judged calls a pair
    (tiecap: 358,800 for 300 jobs). A callback is asked about for its own session only:
    the tied sessions share the agent and the media server, so the same ranges judge
    its ports for either (verify.ranges: each end's role by the session's hosts)."""
    found = ctx.callback_worked.get(session.id)
    if found is None:
        assert session.callback_uid is not None
        found = ctx.callback_worked[session.id] = _worked(
            ctx, session, ctx.by_uid[session.callback_uid])
    return found


def _worked(ctx: Context, session: Session, conn: Connection) -> bool:
    """Would `conn` be an `ok` step 2 of `session`: open (evidence.judged) and its ports
    in the session's ranges, as verify.callback_step judges one."""
    return is_open(judged(ctx, conn)) and ports_in_range(ctx, session, conn)


def _swappable(ctx: Context, session: Session, theirs: Connection, control: Connection
               ) -> bool:
    """Could the session's callback (open before the capture: tie_note asks only then)
    and another session's callback `theirs` (its control connection `control`) be each
    other's: both open before the capture (connection_outcome "midstream": no opening
    to order them by) and each in the other
    session's window? review58a: captures/lab/concurrent-jobs.pcap from frame 50 gave
    S1 (control 10.77.0.1:5035) the other job's callback 10.77.0.2:6087 ->
    10.77.0.1:5051 and S2 its, each read step 2 `ok` with no word of the guess."""
    own = ctx.by_uid[session.control_uid]
    return (connection_outcome(theirs) == "midstream"
            and ctx.order.open_at(theirs, own, end_of(own) + CALLBACK_SLACK_SECONDS))


def _has_own_closing(other: Session, control: Connection) -> bool:
    """Has `other` (its control connection `control`, open before the capture: outcome
    midstream) a callback of its own in the capture, as far as connections held only
    closing tell? Its close captured (sessions.only_closing.close_ts): name_closing_callbacks
    weighed it before naming another's callback by its close (a callback fitting it as
    well, it left without one of its own, named none). Its close not captured: a
    connection that may be its callback claimed as its closing (Session.closing_only,
    sessions.closing_unheld)."""
    if connection_outcome(control) != "midstream":
        return False
    return close_ts(control) is not None or bool(other.closing_only)


def tied_unnamed(ctx: Context, session: Session) -> tuple[str, list[Connection]]:
    """(words, connections) for a session with no callback whose tied connections
    (Session.port_tied: those several sessions fit alike) hold one of a callback's
    shape, from its agent to its media server (sessions.callback_from_ack.
    silent_unopened: no opening, nothing carried, agent range to media range), else
    ("", []). The words "C1 10.77.1.2:6021 -> 10.77.0.1:5001 (first seen at frame 1,
    carrying nothing) may be this session's callback, but it fits S2 as well ...":
    callback_from_ack names none when another job between the same hosts, begun before
    the capture, has no callback either, and step 2 said "no callback in the capture"
    though that connection is there (review64l: lab-trial17/mtu-blackhole-media from
    frame 25 beside a second job announcing nothing, the first job's step 2)."""
    conns = [conn for uid in session.port_tied if (conn := ctx.by_uid.get(uid)) is not None
             and (conn.orig_h, conn.resp_h) == (session.remote_agent, session.media_server)
             and silent_unopened(conn, ctx.config)]
    if not conns:
        return "", []
    uids = {conn.uid for conn in conns}
    others = [other for other in ctx.sessions
              if other is not session and uids & set(other.port_tied)]
    one = len(conns) == 1
    named = " or ".join(f"{conn.uid} {endpoint(conn.orig_h, conn.orig_p)} -> "
                        f"{endpoint(conn.resp_h, conn.resp_p)} (first seen at "
                        f"{frame_text(conn.first_frame)}, carrying nothing)" for conn in conns)
    return (f"{named} may be this session's callback, but {'it fits' if one else 'each fits'} "
            f"{others_and([other.id for other in others]) or 'another session'} as well (a "
            "job between the same hosts without a callback of its own), and which job's "
            f"{'it is' if one else 'each is'} the capture cannot tell"), conns
