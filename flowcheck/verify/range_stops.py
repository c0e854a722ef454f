"""A step that failed where the job needed one more port of a range the capture shows
full: the small range as the step's likely cause (newuser63, task rangesmall).

An agent range of 2 ports for 3 resources: the agent logged "no free port left in
6001-6002" and closed the control connection on the third DATA_LISTEN (step 3 missing,
"see the log of the NDMP service"); the same agent, its OS's own range 6001-6002 too, run
again within the hold: its callback's connect failed "Cannot assign requested address"
(step 2 missing, "allow TCP ..."). range_too_small said the range was small, lower down,
tied to neither: the user opened firewall rules for a range problem flowcheck had found.

The evidence, from the capture alone: when the port was needed (the listen request that
got no reply; for the callback, from the control connection's opening to its last
message), every port of the host's range was in use or held by a connection of the
capture (from its first packet to port_hold_seconds after its last, as range_too_small
counts them). What the capture cannot show is the host's own reason: "likely", and its
log named. Ports outside the range are not counted (the host's range ran out, not its
ports); a range with a port the capture shows free at that moment is no evidence.
Step 4 too (connect_stop, newuser64): an announced endpoint no data connection tried
while the connecting host's own range, its data connection's source port's, was full.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from flowcheck.config import PortRange, format_ranges
from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session
from flowcheck.model.traffic import endpoint
from flowcheck.plan import holds_port, usable_ports
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.local import other_version
from flowcheck.sessions.stack_addresses import Side, address_proofs
from flowcheck.verify.context import Context, session_uids
from flowcheck.verify.end_roles import role_ends
from flowcheck.verify.half_open import half_open_check
from flowcheck.verify.range_stop import RangeStop
from flowcheck.verify.ttl_exceeded import traceroute_probe
from flowcheck.verify.two_clocks import own_span

# (host, port) -> busy intervals [start, end of use] of the connections using it
Usage = dict[tuple[str, int], list[tuple[float, float, Connection]]]

# Backup Exec's settings for each range (docs/configuration.md).
RANGE_SETTING = {"media": "\"Enable media server TCP dynamic port range\"",
                 "agent": "\"Enable remote agent TCP dynamic port range\""}


def port_usage(ctx: Context, *, refused: bool = False) -> dict[str, Usage]:
    """Ports each side of the sessions' connections bound, by side ("media", "agent"),
    on its host's clock (two hosts' captures merged: two_clocks). Not a side-traffic
    session's (Session.side: a port check, another service, not the job): its ports are
    the OS's choice, not the job's, and are not judged (trial 23 D10: an HTTP fetch given
    a port a data connection had used was port_reused_within_hold). Nor a probe's (a
    traceroute's or a half-open port check's control connection, no job: step 1 says
    what it was): traceroute -T draws each probe's port at random, and one drawn twice
    read port_reused_within_hold (verdicts56's lab). The NDMP port is not counted, nor
    the listener's port of a refused connection (a RST or ICMP reject to its SYN: no
    socket took it there, so it was neither in use nor held after; counted, it made a
    range's peak one port more: range_too_small, a step's "no port left"); refused:
    those too, for port_reused_within_hold to name a refused connection to a port held
    before (refused_listener tells them apart).

    Both readings are made in one walk and kept in Context.port_uses under usage_key:
    the failed steps (full_range, held_uses) and check_capacity read them again; a
    stage that changes what the key holds (a session marked side traffic, a connection
    or an announcement taken) has them read anew. Read only: the dicts are shared."""
    key = usage_key(ctx)
    if ctx.port_uses is None or ctx.port_uses[0] != key:
        ctx.port_uses = (key, *_port_usage(ctx))
    return ctx.port_uses[2 if refused else 1]


def usage_key(ctx: Context) -> tuple:
    """What _port_usage reads of the sessions that a stage may change, in session order:
    each session's id, whether it is side traffic, its hosts, its connections
    (session_uids) and how their ends are read (role_ends: its announcements' endpoints,
    listeners and the connections that reached them; its port matches' listeners)."""
    return tuple((session.id, session.side, session.media_server, session.remote_agent,
                  tuple(session_uids(session)),
                  tuple((a.ip, a.port, a.listener, a.used_by) for a in session.announced),
                  tuple(session.port_listener.items()))
                 for session in ctx.sessions)


def _port_usage(ctx: Context) -> tuple[dict[str, Usage], dict[str, Usage]]:
    """(port_usage without refused listeners' ports, with them), in one walk."""
    usage: dict[str, Usage] = {"media": defaultdict(list), "agent": defaultdict(list)}
    every: dict[str, Usage] = {"media": defaultdict(list), "agent": defaultdict(list)}
    for session in ctx.sessions:
        control = ctx.by_uid.get(session.control_uid)
        if session.side or control is not None and (
                traceroute_probe(ctx, control) or half_open_check(ctx, control)):
            continue
        for uid in session_uids(session):
            conn = ctx.by_uid[uid]
            for which, side in role_ends(ctx, conn, session):
                if side[1] == ctx.config.ndmp_port:
                    continue
                span = (*own_span(ctx, conn, side[0]), conn)
                every[which][side].append(span)
                if not refused_listener(conn, side):  # no socket held the refused port
                    usage[which][side].append(span)
    # Plain dicts: a reader's lookup of a port not used adds none to the shared reading.
    return ({which: dict(ports) for which, ports in usage.items()},
            {which: dict(ports) for which, ports in every.items()})


def merged_uses(spans: list[tuple[float, float, Connection]]
                ) -> list[tuple[float, float, Connection]]:
    """One port's spans of use (a Usage value) merged where they overlap or touch
    (model.spans' merged_spans: a listener and the connection it accepted are one use),
    each with the connection that began it; a use after an earlier one's end is another
    (range_too_small counts it again: within the hold it needed another port)."""
    merged: list[list] = []
    for start, end, conn in sorted(spans, key=lambda span: (span[0], span[2].first_frame)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, conn])
    return [(start, end, conn) for start, end, conn in merged]


def held_uses(ctx: Context, which: str, owners: set[str], ts: float
              ) -> list[tuple[int, Connection]]:
    """(port, the connection that began the use) of each use of a port of the `which`
    range of the host with addresses `owners` (range_owners) in use or held
    (port_hold_seconds after its end) at `ts` (seconds):
    a port used again within the hold counts once per use (full_range names only the
    last), as range_too_small's peak counts it."""
    ranges = getattr(ctx.config, f"{which}_range")
    hold = ctx.config.port_hold_seconds
    return sorted(((port, conn) for (owner, port), spans in port_usage(ctx)[which].items()
                   if owner in owners and holds_port(ranges, port)
                   for start, end, conn in merged_uses(spans) if start <= ts <= end + hold),
                  key=lambda use: (use[0], use[1].first_frame))


def refused_listener(conn: Connection, side: tuple[str, int]) -> bool:
    """Is `side` (host, port) the listener's end of a refused connection (a RST or ICMP
    reject to its SYN), a port no socket of the connection held?"""
    return side == (conn.resp_h, conn.resp_p) and connection_outcome(conn) == "refused"


def range_owners(ctx: Context, session: Session, host: str) -> set[str]:
    """Every address of `host` whose ports draw on its range: where `host` is the
    session's agent or media server, each address of that host (Context.host_addresses:
    a dual-stack host's control connection over IPv6 and its callback and data
    connections over IPv4 hold one range; looked up by the control address alone, lab
    matrix seed 140 run 11's full agent range, held on 10.77.1.2, was not read at the
    DATA_LISTEN fd77:1::2 left unanswered); else `host` alone. The configuration's pair
    (stack_addresses.config_pair) counts only when no session proves an address of the
    host's other IP version: one that does and is not the pair's shows the pair two
    hosts, an IPv4 agent and another's IPv6 address (both listed), whose ports counted
    as one range read a range full that neither filled."""
    side: Side | None = ("agent" if host == session.remote_agent else
                         "media" if host == session.media_server else None)
    if side is None:
        return {host}
    found = ctx.host_addresses(session, side) | {host}
    proofs = list(address_proofs(session, ctx.host_sessions(session, side), ctx.by_uid,
                                 ctx.config, side))
    proven = {p.address for p in proofs if p.how != "config" and other_version(p.address, host)}
    paired = {p.address for p in proofs if p.how == "config"}
    return found - (paired - proven) if proven else found


def full_range(ctx: Context, which: str, owners: set[str], start: float, end: float
               ) -> tuple[tuple[int, Connection, float], ...] | None:
    """(port, connection, its last second) for every usable port of the `which` range of the host
    with addresses `owners` (range_owners), each in use or held (port_hold_seconds after its
    connection's last packet) through all of [start, end] by a connection of the capture, in
    port order; None when a port of the range is not so held then (it was free: no evidence), or
    the range holds more ports than the capture shows the host using."""
    ranges = getattr(ctx.config, f"{which}_range")
    size = usable_ports(ranges, ctx.config.ndmp_port)
    hold = ctx.config.port_hold_seconds
    ports = {port: spans for (owner, port), spans in port_usage(ctx)[which].items()
             if owner in owners and holds_port(ranges, port)}
    if not size or len(ports) < size:
        return None
    held = []
    for port, spans in sorted(ports.items()):
        # The last connection on the port that began by `start` and keeps it to `end`.
        covering = [(first, last, conn) for first, last, conn in spans
                    if first <= start and last + hold >= end]
        if not covering:
            return None
        first, last, conn = max(covering, key=lambda span: span[0])
        held.append((port, conn, last))
    return tuple(held)


def listen_stop(ctx: Context, session: Session, host: str, request_words: str,
                ts: float, frame: int) -> RangeStop | None:
    """The RangeStop of a listen request (DATA_LISTEN, MOVER_LISTEN) `host` never
    answered (step 3 missing) when its range was full as the request came; None
    otherwise (no range known for the host, a port free)."""
    which = _role(ctx, session, host)
    held = full_range(ctx, which, range_owners(ctx, session, host), ts, ts) if which else None
    if which is None or held is None:
        return None
    return _stop(ctx, session, 3, which, host, (ts, frame, request_words), held, ts)


def callback_stop(ctx: Context, session: Session, opened: float,
                  due: tuple[float, int] | None) -> RangeStop | None:
    """The RangeStop of a callback that never came (step 2 missing) when the profile
    binds the callback's source port in the agent range (plan.callback_source_ports) and
    the agent's range was full from the control connection's opening (`opened`) to the
    session's last NDMP message (`due`: answer_seen.callback_due); None otherwise, and
    when a callback of the capture shows the agent calling back from outside its range
    (_calls_back_outside)."""
    if ctx.profile.callback != "connection" or due is None:
        return None
    host = session.remote_agent
    owners = range_owners(ctx, session, host)
    if _calls_back_outside(ctx, owners):
        return None
    held = full_range(ctx, "agent", owners, opened, due[0])
    if held is None:
        return None
    return _stop(ctx, session, 2, "agent", host,
                 (due[0], due[1], f"the session's last NDMP message ({frame_text(due[1])})"), held,
                 opened)


def connect_stop(ctx: Context, session: Session, host: str, ts: float, frame: int,
                 what: str) -> RangeStop | None:
    """The RangeStop of an announced endpoint no data connection tried (step 4,
    announced_not_used) when the connecting `host`'s own range (its role's: the media
    server's media range, an agent's agent range), from which its data connection's
    source port comes, was full as the announcement came (`ts`, `frame`, `what`: "the
    DATA_LISTEN reply (frame 444)"); None otherwise, and when a data connection of the
    capture shows `host` connecting from a port outside that range (_connects_outside:
    its data connections do not draw on the range). newuser64: a media range of 3 ports
    for 3 resources, the callback's port and two data connections' holding all three
    as the third DATA_LISTEN's endpoint came, read "allow TCP ... in its outbound rules"
    first."""
    which = _role(ctx, session, host)
    owners = range_owners(ctx, session, host)
    if which is None or _connects_outside(ctx, owners, which):
        return None
    held = full_range(ctx, which, owners, ts, ts)
    if held is None:
        return None
    return _stop(ctx, session, 4, which, host, (ts, frame, what), held, ts)


def _connects_outside(ctx: Context, owners: set[str], which: str) -> bool:
    """Does a data connection of the capture leave the host (its addresses `owners`) from a port
    outside its `which` range? Then its data connections do not draw on the range, and a full
    range is no cause of one never tried (review62b's rule in _calls_back_outside)."""
    return _leaves_outside(ctx, owners, getattr(ctx.config, f"{which}_range"),
                           (uid for session in ctx.sessions for uid in session.data_connections))


def _calls_back_outside(ctx: Context, owners: set[str]) -> bool:
    """Does a callback of the capture come from the host (its addresses `owners`) on a port outside
    its agent range (port_outside_agent_range: the OS's port, not the range's)? Then its
    callbacks do not draw on the range, and a full range is no cause of one that never came
    (review62b: agent-range-small's callback from 45350 and a later job's missing callback,
    merged, read "likely because its agent range 6001-6002 had no port left")."""
    return _leaves_outside(ctx, owners, ctx.config.agent_range,
                           (session.callback_uid for session in ctx.sessions
                            if session.callback_uid))


def _leaves_outside(ctx: Context, owners: set[str], ranges: tuple[PortRange, ...],
                    uids: Iterable[str]) -> bool:
    """Does one of the connections `uids` (those the capture holds) leave an address of
    `owners` from a source port outside `ranges`?"""
    return any(conn is not None and conn.orig_h in owners and not holds_port(ranges, conn.orig_p)
               for conn in map(ctx.by_uid.get, uids))


def _role(ctx: Context, session: Session, host: str) -> str | None:
    """"media" or "agent": the range of `host`'s role in the session, else the
    configuration's or the sessions' (Context.host_role)."""
    if host == session.remote_agent != session.media_server:
        return "agent"
    if host == session.media_server != session.remote_agent:
        return "media"
    return ctx.host_role(host)


def _stop(ctx: Context, session: Session, step: int, which: str, host: str,
          at: tuple[float, int, str], held: tuple[tuple[int, Connection, float], ...],
          since: float) -> RangeStop:
    """The RangeStop, kept in Context.range_stops for range_too_small to tie it; `at`:
    (ts, frame, what), `since`: the time its held connections' words count back from
    (the request's; for the callback, the control connection's opening)."""
    ts, frame, what = at
    stop = RangeStop(session=session.id, step=step, which=which, host=host, ts=ts,
                     frame=frame, what=what,
                     held=tuple((port, conn.uid, conn.first_frame) for port, conn, _ in held),
                     held_words=_held_words(held, since, host))
    ctx.range_stops.append(stop)
    return stop


def _held_words(held: tuple[tuple[int, Connection, float], ...], ts: float,
                host: str) -> str:
    """"C3 on 6001 (ended 2.1 ms before), C4 on 6002 (open)": each held port's
    connection, and whether it was still open at `ts`; the port as an endpoint
    ("C3 on 10.77.1.2:6001") when it was held on another address of the host than
    `host`, the one the words name (range_owners: a dual-stack agent named by its IPv6
    control address, its ports held on IPv4)."""
    return ", ".join(f"{conn.uid} on {_held_at(conn, port, host)} "
                     + (f"(ended {span_words(ts - last)} before)" if last < ts else "(open)")
                     for port, conn, last in held)


def _held_at(conn: Connection, port: int, host: str) -> str:
    """`port`, or the endpoint of conn that holds it when that is not on `host` (the one
    end of conn with that port; the port alone when both ends have it)."""
    ends = [(addr, p) for addr, p in ((conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p))
            if p == port]
    if (host, port) in ends or len(ends) != 1:
        return str(port)
    return endpoint(*ends[0])


def stop_lead(ctx: Context, stop: RangeStop) -> str:
    """The step's cause in a few words, for its first sentence (the verdict's "cause:"
    keeps that): "likely because its agent range 6001-6002 had no port left"; at step 4,
    whose subject is the announcement, the host named: "likely because 10.64.1.1's media
    range 5001-5003 had no port left"."""
    ranges = format_ranges(getattr(ctx.config, f"{stop.which}_range"))
    whose = f"{stop.host}'s" if stop.step == 4 else "its"
    return f"likely because {whose} {stop.which} range {ranges} had no port left"


def stop_words(ctx: Context, stop: RangeStop) -> str:
    """The step's evidence: every port of the range in use or held when the port was
    needed, and what the capture cannot show (the host's own reason, in its log)."""
    size = len(stop.held)
    when = {3: "as the request came", 4: f"as {stop.what} announced the endpoint"}.get(
        stop.step, "from the control connection's opening to " + stop.what)
    every = {1: "the one port", 2: "both ports"}.get(size, f"all {size} ports")
    hold = ctx.config.port_hold_seconds
    return (f"the capture shows {every} of {ctx.ranges(stop.which)} in use or held "
            f"({hold:g} s after use) {when}: {stop.held_words}, none left for {_needed(stop)}; why "
            f"{stop.host} stopped cannot be seen in the capture: its log tells")


def _needed(stop: RangeStop) -> str:
    """The port the step needed: "the next resource's data port", "the data connection's
    source port", "the callback's source port"."""
    return {3: "the next resource's data port",
            4: "the data connection's source port"}.get(stop.step, "the callback's source port")


def note_range_stops(ctx: Context) -> None:
    """After check_capacity: the fix of each step that stopped on a full range
    (Context.range_stops) says first to widen the range, to the ports range_too_small
    gives (Context.too_small: one number for the report), then the step's own fix for a
    job that still fails so."""
    for stop in ctx.range_stops:
        finding, need = stop.finding, ctx.too_small.get(stop.which)
        if finding is None or need is None or finding.fix.startswith("Widen"):
            continue
        rest = finding.fix[:1].lower() + finding.fix[1:]
        finding.fix = (f"Widen the {stop.which} range {ctx.ranges(stop.which)} first, to at "
                       f"least {need} ports (Backup Exec: {RANGE_SETTING[stop.which]}, "
                       "docs/configuration.md; range_too_small says what they count), and "
                       f"open the widened range in the firewall: it had no port left for "
                       f"{_needed(stop)}, likely why step {stop.step} failed, and {stop.host}'s "
                       "log at that time confirms it "
                       "(a failed bind: \"no free port\", \"Cannot assign requested "
                       f"address\" or the like). If the job still fails with the range widened: "
                       f"{rest}")
