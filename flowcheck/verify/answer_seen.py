"""An announced endpoint nothing opened, in a capture of the listener's direction only.

A capture of one direction (tcpdump -Q in on the media server, a SPAN port mirroring
what one host receives) lacks the connector's SYNs, so whether anything tried an
announced endpoint cannot be seen. But it holds the listener's packets: had a connection
to the endpoint opened, its SYN-ACK (or a RST refusing it) would be among them (RFC 9293
3.5: the listener answers every SYN that reaches it). When the capture holds the
listener's packets to the connector for a retransmission timeout and more after the
announcement, and no answer from the endpoint among them, the data connection never
opened: the job failed at that step; only where its SYNs were lost, or whether they were
sent, cannot be seen (trial 22 D3: such a job read "No error found", inconclusive).

The callback is the same case with the roles turned: the job engine listens, and a
capture of the media server's packets only holds its SYN-ACK had the agent's callback
opened (callback_due, callback_seen_words: the session's last NDMP message stands for the
announcement; whether the agent tried, or refused the job in a reply the capture lacks,
stays unseen).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session
from flowcheck.sessions import message_op
from flowcheck.sessions.local import other_version
from flowcheck.sessions.stack_addresses import session_proof
from flowcheck.verify.context import Context
from flowcheck.verify.kept import kept
from flowcheck.verify.unread_frames import could_carry


@fields_dataclass(frozen=True, slots=True)
class AnswerSeen:
    """listener, connector: the two hosts; seconds: how long after the announcement the
    capture still holds the listener's packets to the connector."""

    listener: str
    connector: str
    seconds: float


def answer_seen(ctx: Context, way: tuple[str, str] | None, ts: float,
                addresses: Iterable[str] = ()) -> AnswerSeen | None:
    """For `way` (connector, listener), the direction the capture lacks (as
    attempts.connector_unseen gives it), whether the capture would show the listener's
    answer to a connection announced at `ts`: it holds the listener's packets to the
    connector a retransmission timeout or more after ts (on the session's control
    connection or another between the two hosts). None when not, or way is None.
    addresses: the announced ones; when they name another host flowcheck knows (a
    three-way job's other NDMP server: trial 20 D5) and not way's listener, that host
    would answer, so its packets are the ones that count. None too when the capture
    holds frames in an encapsulation flowcheck does not read (ctx.unread) that could
    carry way: the answer may be among them (verify.unread_frames.could_carry), and
    when the capture kept only packets that carry data (verify.kept: "data_only", no
    handshake and no pure ACK in it), which leaves a SYN-ACK or RST out."""
    if way is None or could_carry(ctx, way):
        return None  # the answer may be in frames flowcheck cannot read (trial 36 D3)
    if kept(ctx).shape == "data_only":
        return None  # a filter that kept only data packets left SYN-ACKs and RSTs out
    connector, listener = way
    known = ctx.media_hosts | ctx.agent_hosts
    others = [a for a in addresses if a != listener and a in known]
    if others and listener not in addresses:
        listener = others[0]
    if not ctx.holds((listener, connector), ts):
        return None
    until = ts + ctx.config.retransmission_timeout
    last = max(_heard_until(ctx, listener, connector), default=None)
    if last is None or last < until:
        return None
    return AnswerSeen(listener, connector, last - ts)


def _heard_until(ctx: Context, listener: str, connector: str) -> Iterable[float]:
    """The last packet time of each connection between the hosts that holds a packet
    from the listener (in a one-direction capture, every packet of it is the listener's).
    Those between the two hosts only (Context.between): a question per session walked
    every connection (quadratic on a flood of sessions captured one way)."""
    for conn in ctx.between(listener, connector):
        sent = (conn.orig_pkts if (conn.orig_h, conn.resp_h) == (listener, connector) else
                conn.resp_pkts if (conn.resp_h, conn.orig_h) == (listener, connector) else 0)
        if sent:
            yield conn.last_ts


def answer_seen_words(seen: AnswerSeen, where: str) -> str:
    """What the capture shows of an announced endpoint (`where`) no answer came from, and
    what stays unseen (trial 32 D4: "no connection to it opened" asserted what a capture
    lacking the connector's direction cannot show). Follows "... announced {where}, but "."""
    it = "any of them" if " or " in where else "it"
    return (f"no answer from {it} is in the capture, which holds only {seen.listener}'s "
            f"direction: {_either(seen)} (the capture holds {seen.listener}'s packets to "
            f"{seen.connector} for {span_words(seen.seconds)} after it, and no answer from "
            f"{where}, a SYN-ACK or a RST refusing a connection, among them; whether "
            f"{seen.connector} sent SYNs cannot be seen without that direction, and a "
            f"SYN-ACK dropped before the capture point, by {seen.listener}'s own output "
            "chain when the capture was taken there (the packet tap sees leaving packets "
            "after it), looks the same as none)")


def _either(seen: AnswerSeen) -> str:
    """The two ways an announced endpoint's answer can be missing from a capture of the
    listener's direction, the drops first (a headline cut at the first break keeps them:
    report.answer.gist): the connector's SYNs or the listener's SYN-ACKs dropped on the
    way, or the SYNs never sent. Lab matrix seed 123 run 15 (the agent's output chain dropping its
    data SYN-ACKs, `-Q in` on the media server) read "fd77::1's SYNs were dropped on the
    way or never sent" alone, its fix allowing them in and not the answers out."""
    return (f"{seen.connector}'s SYNs or {seen.listener}'s SYN-ACKs were dropped on the "
            "way, or the SYNs never sent")


def answer_seen_detail(seen: AnswerSeen, where: str) -> str:
    """Step 4's detail for an announced endpoint (`where`) whose answer the capture would
    hold (answer_seen) and does not: what is seen, not that no connection was tried."""
    return (f"no answer from {where} in the capture, which holds only {seen.listener}'s "
            f"direction (its packets to {seen.connector} for {span_words(seen.seconds)} after the "
            f"announcement): {_either(seen)}")


def callback_due(ctx: Context, session: Session) -> tuple[float, int] | None:
    """When the agent's callback was due at the latest, and the frame that says so: the
    last NDMP message of the session before its close (CONNECT_CLOSE). The callback comes
    after the control connection opened (the profile's step 2); a media server that
    closes the session soon after its last request (an agent that refused the job, say)
    leaves too little time to judge. None when the session carried no NDMP message but a
    close: a port check, say (flowcheck.verify.port_check), due no callback."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    last = max((m for m in (stream.messages if stream else [])
                if message_op(m) != "CONNECT_CLOSE"), key=lambda m: m.ts, default=None)
    return (last.ts, last.frame) if last is not None else None


def callback_elsewhere(ctx: Context, session: Session) -> bool:
    """Did the agent open any connection to the media server after the session's control
    connection opened, whichever session it was given to (callbacks_elsewhere)?"""
    return next(callbacks_elsewhere(ctx, session), None) is not None


def callbacks_elsewhere(ctx: Context, session: Session) -> Iterator[Connection]:
    """The connections the agent opened to the media server after the session's control
    connection opened, whichever session they were given to. A capture of one direction
    ties a callback to its session by order alone (of two sessions open at once, the
    other may take it: verify.callback_tie): then no callback of this session is no
    evidence. The hosts' addresses of the other IP version count too (field check 46: a
    dual-stack session's callback runs between the IPv4 addresses, as step 2 of a whole
    capture accepts): those the sessions or the configuration prove theirs
    (sessions.stack_addresses.host_addresses), and on the agent's side, from the agent
    range into the media range, any address of the other version no other session's
    agent has (with two jobs of one media server's, a configuration naming two agents by
    both addresses does not tell which is whose)."""
    control = ctx.by_uid[session.control_uid]
    agents = ctx.host_addresses(session, "agent")
    media = ctx.host_addresses(session, "media")
    claims = _agent_claims(ctx)
    to_media = _connections_to(ctx)
    return (c for address in sorted(media) for c in to_media.get(address, ())
            if c.ts >= control.ts
            and (c.orig_h in agents or (
                other_version(c.orig_h, session.remote_agent)
                # another session's agent's address (its own or proved): not this one's
                and not claims.get(c.orig_h, set()) - {session.remote_agent}
                and ctx.config.in_agent_range(c.orig_p)
                and ctx.config.in_media_range(c.resp_p))))


def _connections_to(ctx: Context) -> dict[str, list[Connection]]:
    """The connections to each responder address, in capture order (one walk over the
    connections per Context, not one per session)."""
    if ctx.connections_to is None:
        table: dict[str, list[Connection]] = {}
        for conn in ctx.connections:
            table.setdefault(conn.resp_h, []).append(conn)
        ctx.connections_to = table
    return ctx.connections_to


def _agent_claims(ctx: Context) -> dict[str, set[str]]:
    """Per address, the agents (Session.remote_agent) whose sessions claim it: their
    control address, and the addresses sessions.stack_addresses.session_proof proves
    theirs. Found once per Context: each session's set of the addresses other agents'
    sessions claim walked every session (quadratic on many sessions)."""
    if ctx.agent_claims is None:
        claims: dict[str, set[str]] = {}
        for session in ctx.sessions:
            for address in [session.remote_agent, *(
                    a for a, _, _ in session_proof(session, ctx.by_uid, "agent"))]:
                claims.setdefault(address, set()).add(session.remote_agent)
        ctx.agent_claims = claims
    return ctx.agent_claims


def callback_seen_words(ctx: Context, seen: AnswerSeen, frame: int) -> str:
    """Why no callback is seen (the job engine's answer would be among the listener's
    packets), and what stays unseen: whether the agent tried at all, and whether the job
    engine's SYN-ACK was dropped before the capture point (its own output chain: the lab
    matrix's seed 37, a media server dropping its answers, captured -Q out on it). What
    the capture shows first, not that no callback opened (trial 32 D4's twin); the drops
    named as the data version's (_either: field check 60 fixed that one, the callback's
    still read "10.77.0.2's SYNs were dropped on the way or never sent", its fix already
    asking for the answers' way out); "(its direction only)" keeps them within the
    headline (report.answer.gist's 200 characters)."""
    media = ctx.ranges("media")
    return (f"no answer from {seen.listener}'s media ports is in the capture (its "
            f"direction only): {_either(seen)} (the agent's callback; the capture holds "
            f"{seen.listener}'s packets to {seen.connector} for {span_words(seen.seconds)} after "
            f"its last request before the callback was due ({frame_text(frame)}), and no answer "
            f"from {seen.listener} on a port in {media}, a SYN-ACK or a RST refusing a "
            "connection, among them). Backup Exec's agent calls the job engine back on "
            f"that port (TechNote step 2); whether {seen.connector} sent SYNs that were "
            "dropped on the way, or none (it may have refused the job in a reply the "
            "capture lacks: a CONNECT_CLIENT_AUTH refused, say), cannot be seen (the "
            "capture lacks that direction). A SYN-ACK dropped before the capture point "
            f"looks the same: by {seen.listener}'s own output chain when the capture was "
            "taken there (the packet tap sees leaving packets after it)")


def callback_seen_detail(seen: AnswerSeen, frame: int) -> str:
    """Step 2's detail for the callback callback_seen_words reports: what is seen."""
    return (f"no answer from {seen.listener} on a media port in the capture, which holds "
            f"only {seen.listener}'s direction (its packets to {seen.connector} for "
            f"{span_words(seen.seconds)} after {frame_text(frame)}): the agent's callback SYNs or "
            f"{seen.listener}'s SYN-ACKs were dropped on the way, or the SYNs never sent")
