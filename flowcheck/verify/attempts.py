"""Whether the capture could show a connection attempt to an endpoint the session
announced: the directions it lacks (a capture of one way: capture_one_direction), who
connects to whom by the announcing message (flow-model.md's pairing table), and why an
attempt could not be seen (step 4's `unknown` and announced_not_used's silence).
Split from flowcheck.verify.evidence (its size).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flowcheck.durations import span_words
from flowcheck.model import Announcement, Session
from flowcheck.sessions.stack_addresses import Side
from flowcheck.verify.answer_seen import answer_seen, answer_seen_detail
from flowcheck.verify.clock_match import unbounded_words
from flowcheck.verify.context import Context
from flowcheck.verify.evidence import after
from flowcheck.verify.filtered import moved_unseen, off_path, port_only_unseen
from flowcheck.verify.stack_own import stand_in
from flowcheck.verify.stream_evidence import announcement_time_enough
from flowcheck.verify.unread_frames import could_carry, unseen_words
from flowcheck.verify.way_back import lacking_words


def unseen_way(ctx: Context, sender: str, receivers: Iterable[str],
               ts: float) -> tuple[str, str] | None:
    """The first direction (sender, receiver) among these that the capture lacks
    (ctx.missing): a packet that would travel it (a SYN, a connection attempt) cannot be
    seen, so its absence from the capture proves nothing. None when all were captured.
    ts: a time of the job (s), for the piece of the set that holds it (sources.pieces)."""
    return next(((sender, r) for r in receivers if ctx.lacks((sender, r), ts)), None)


def connector_unseen(ctx: Context, session: Session, listener: str | None,
                     addresses: Iterable[str] = ()) -> tuple[str, str] | None:
    """The direction the capture lacks from the side told to connect to an announced
    endpoint to the listener (addresses: the announced ones; the listener's control
    address counts too). listener "data": the agent listens and the media server
    connects (DATA_LISTEN, MOVER_CONNECT); "mover": the reverse (MOVER_LISTEN,
    DATA_CONNECT, v2 DATA_START_*), as flow-model.md's pairing table has it; None:
    either way."""
    control = ctx.by_uid[session.control_uid]
    media, agent = control.orig_h, control.resp_h
    pairs = {"data": [("media", agent)], "mover": [("agent", media)]}.get(
        listener or "", [("media", agent), ("agent", media)])  # (connector's side, listener)
    return next((way for side, host in pairs for receiver in [*addresses, host]
                 for connector in _connectors(ctx, session, side, receiver)
                 if (way := unseen_way(ctx, connector, [receiver], control.ts))), None)


def _connectors(ctx: Context, session: Session, side: Side, receiver: str) -> list[str]:
    """The connector's (side's) addresses a connection to receiver may come from: its
    control address, or its addresses of receiver's IP version when the sessions prove
    some (ctx.host_addresses: a dual-stack host connecting to an announced IPv4 address
    from its IPv4 address, field check 66 run 8), every one, sorted (review58m: two
    proven, the lowest alone was asked and a way the capture lacks from the other was
    missed), else the control address."""
    control = ctx.by_uid[session.control_uid]
    own = control.orig_h if side == "media" else control.resp_h
    if (":" in own) == (":" in receiver):
        return [own]
    return [a for a in sorted(ctx.host_addresses(session, side))
            if (":" in a) == (":" in receiver)] or [own]


def one_way_words(ctx: Context, way: tuple[str, str], what: str, ts: float) -> str:
    """Why a packet (what) from way[0] cannot be seen: the capture lacks that direction,
    or holds frames flowcheck cannot read that it may be among (verify.unread_frames).
    ts: the time (s) the way was found lacking at (unseen_way's, ctx.lacks': the
    session's control connection's opening), so the words read the piece of a set that
    lacks it (way_back.lacking_words), as unseen_way did (tiecap: they read none;
    required, every caller has it)."""
    if could_carry(ctx, way):
        return unseen_words(ctx, way, what)
    return (f"the capture holds {lacking_words(ctx, *way, ts)}, so {what} from {way[0]} "
            "could not be seen")


def attempt_unseen(ctx: Context, session: Session, listener: str | None,
                   addresses: Iterable[str], ts: float,
                   announced: Sequence[Announcement] = (), frame: int | None = None) -> str:
    """Why the capture cannot show whether anything tried an endpoint announced at ts
    ("" when it could): the connector's direction is one the capture lacks
    (connector_unseen), the session's NDMP messages report the data moved after it
    (the capture left the connection out: flowcheck.verify.filtered), a three-way job's
    announced (its group) data connection runs between two hosts the capture holds no
    packet between (off_path), a connection stamped on another clock may have followed
    it (verify.clock_match), the capture ended
    before TCP would have retried a lost SYN, or it holds only NDMP-port connections.
    frame: the announcement's (evidence.after)."""
    addresses = list(addresses)
    way = connector_unseen(ctx, session, listener, addresses)
    # The listener's answer shows only for a known endpoint (not one the snap length cut).
    if way is not None and (not addresses or answer_seen(ctx, way, ts, addresses) is None):
        return one_way_words(ctx, way, "a connection attempt",
                             ctx.by_uid[session.control_uid].ts)
    moved = moved_unseen(ctx, session, ts, frame)
    if moved:
        return moved
    path = off_path(ctx, session, announced)
    if path:
        return path
    clocks = unbounded_words(ctx, session, announced)
    if clocks:  # a connection the unbounded lag may make its one (verify.clock_match)
        return clocks
    if not announcement_time_enough(ctx, session, ts, frame):
        return (f"the capture ended {span_words(after(ctx, ts, frame))} after it, too soon to "
                "see its "
                "connection")
    return port_only_unseen(ctx, session, "a connection to it was tried", announced)


def unanswered_seen(ctx: Context, session: Session, group: Sequence[Announcement]) -> str:
    """Step 4's detail for an announcement (its group: the alternatives of one message)
    no captured connection tried, when the capture lacks the connector's direction but
    holds the listener's long enough to show its answer (answer_seen): what it shows (no
    answer), not that nothing tried (trial 32 D4). "" otherwise."""
    addresses = [a.ip for a in group]
    way = connector_unseen(ctx, session, group[0].listener, addresses)
    seen = answer_seen(ctx, way, group[0].ts, addresses)
    if seen is None:
        return ""
    # 0.0.0.0 over IPv6: the answer would come from the control connection's address.
    return answer_seen_detail(seen, " or ".join(dict.fromkeys(
        stand_in(ctx, session, a)[0] for a in group)))
