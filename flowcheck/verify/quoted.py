"""Refusals the capture holds only as an ICMP unreachable: the refused SYN is not in it.

A capture of one direction (a SPAN port that sees one way, `tcpdump 'src host X'`) may
hold the ICMP destination unreachable that a host or its firewall sent back and not the
SYN it answers: no connection has that 4-tuple (flowcheck.connections.icmp keeps such
quotes apart). The message quotes the SYN (RFC 792 and RFC 4443: the IP header and the
start of the TCP header; RFC 1812 4.3.2.3 and Linux: as much as fits, flags included),
so it proves the SYN was sent and refused, as the same ICMP message after a captured SYN
does. Evidence is exactly an unreachable whose quote shows a SYN
(IcmpUnreachable.refuses_syn):
- to an endpoint announced on a session's control connection that no connection
  reached, from ANNOUNCEMENT_JITTER_SECONDS before the announcement on (until that
  endpoint is announced again): `data_refused`;
- from a session's agent to its media server, not to the NDMP port, while the control
  connection was open (up to CALLBACK_SLACK_SECONDS after it), in a session of a
  profile with a callback that has no callback connection: `callback_refused` (a port in
  the media range preferred, as for a captured callback; later rejects of the same
  port are its retries).
Anything less (a quote cut before the TCP flags, a quote of another packet, IPv4's
"fragmentation needed", an endpoint known only from ports) leaves the steps as they
were: `unknown` where the capture lacks the direction.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict

from flowcheck.model import Announcement, Connection, IcmpUnreachable, Session
from flowcheck.sessions import announcement_groups
from flowcheck.sessions.classify import connector_host, end_of
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS, CALLBACK_SLACK_SECONDS
from flowcheck.verify.context import (
    Context,
    callback_refused_fix,
    data_refused_fix,
    endpoint,
    refusal_causes,
    syns_not_held,
)

_Entry = tuple[float, Session, list[Announcement]]


def check_quoted(ctx: Context) -> None:
    """Match ctx.unattached_icmp to the sessions' callbacks and announced endpoints, keep
    the matches in ctx.quoted_refusals for the step checks and report each: one
    callback_refused or data_refused per session and endpoint, with the messages and
    fixes of a captured refusal, the ICMP frames as evidence and no connection uid.
    Runs before check_links, which then leaves those endpoints alone."""
    rejects = [r for r in ctx.unattached_icmp if r.refuses_syn]
    if not rejects or not ctx.sessions:
        return
    claimed: set[int] = set()
    _match_data(ctx, rejects, claimed)
    _match_callbacks(ctx, rejects, claimed)
    for session in ctx.sessions:
        callback = ctx.quoted_refusals.get((session.id, "callback"))
        if callback:
            attempt = _attempt(callback)
            ctx.add("callback_refused",
                    f"The agent's callback to the job engine was refused: "
                    f"{refusal_causes(attempt)}. {_unseen_words(ctx, callback)}",
                    callback_refused_fix(ctx, attempt, session), session=session,
                    frames=_frames(callback), ts=callback[0].ts, cause="callback")
        for group in announcement_groups(session.announced):
            data = ctx.quoted_refusals.get((session.id, group[0].frame))
            if not data:
                continue
            attempt = _attempt(data)
            tries = len({(r.orig_h, r.orig_p) for r in data})
            count = f" ({tries} attempts)" if tries > 1 else ""
            ctx.add("data_refused",
                    f"The data connection from {attempt.orig_h} was refused{count}: "
                    f"{refusal_causes(attempt)}. {_unseen_words(ctx, data)}",
                    data_refused_fix(ctx, attempt, session), session=session,
                    frames=_frames(data), ts=data[0].ts, cause="data")


def quoted_step(ctx: Context, session: Session, kind: str) -> tuple[list[int], str] | None:
    """(frames, detail) of a step ("callback" or "data_connection") failed on ICMP
    rejects of SYNs the capture does not hold; None when there are none."""
    if kind == "callback":
        found = [ctx.quoted_refusals.get((session.id, "callback")) or []]
    else:
        found = [ctx.quoted_refusals.get((session.id, group[0].frame)) or []
                 for group in announcement_groups(session.announced)]
    found = [rejects for rejects in found if rejects]
    if not found:
        return None
    first = found[0][0]
    frames = ", ".join(str(f) for f in _frames(found[0]))
    detail = (f"refused: the SYN was answered with an ICMP unreachable (frame {frames} "
              f"quotes the SYN {endpoint(first.orig_h, first.orig_p)} -> "
              f"{endpoint(first.resp_h, first.resp_p)}, which the capture does not hold)")
    if kind != "callback":
        detail = f"{endpoint(first.resp_h, first.resp_p)}: {detail}"
    return [f for rejects in found for f in _frames(rejects)], detail


def _match_data(ctx: Context, rejects: list[IcmpUnreachable], claimed: set[int]) -> None:
    """Each reject goes to the latest announcement of its destination that it may follow
    and whose session may have sent the quoted SYN (attach_data's rule: the SYN's source
    is that session's own host on the side told to connect, connector_host, or an
    address no session uses on that side); it counts when no connection reached that
    announcement."""
    announced: dict[tuple[str, int], list[_Entry]] = defaultdict(list)
    for session in ctx.sessions:
        for group in announcement_groups(session.announced):
            for where in dict.fromkeys((a.ip, a.port) for a in group):
                announced[where].append((group[0].ts, session, group))
    for entries in announced.values():
        entries.sort(key=lambda entry: entry[0])
    # Hosts on the side that connects: DATA_LISTEN's connector is a media server,
    # MOVER_LISTEN's an agent.
    connectors = {"data": {s.media_server for s in ctx.sessions},
                  "mover": {s.remote_agent for s in ctx.sessions}}
    for reject in rejects:
        entries = announced.get((reject.resp_h, reject.resp_p), [])
        at = bisect_right([ts - ANNOUNCEMENT_JITTER_SECONDS for ts, _, _ in entries],
                          reject.ts) - 1
        while at >= 0:
            _, session, group = entries[at]
            ann = group[0]
            own = connector_host(ann, ctx.by_uid[session.control_uid])
            if reject.orig_h == own or reject.orig_h not in connectors[ann.listener]:
                break
            at -= 1  # another session's host sent it: an earlier announcement's
        if at < 0:
            continue
        claimed.add(id(reject))
        if not any(a.used_by for a in group):
            ctx.quoted_refusals.setdefault((session.id, group[0].frame), []).append(reject)


def _match_callbacks(ctx: Context, rejects: list[IcmpUnreachable], claimed: set[int]) -> None:
    """Each session without a callback connection, in the order the control connections
    opened, takes the first unclaimed reject of a SYN from its agent to its media server
    in its callback window (a port in the media range first), with that port's later
    rejects (retries from new source ports)."""
    if ctx.profile.callback != "connection":
        return
    for session in sorted(ctx.sessions, key=lambda s: ctx.by_uid[s.control_uid].ts):
        if session.callback_uid is not None:
            continue
        control = ctx.by_uid[session.control_uid]
        start, end = control.ts, end_of(control) + CALLBACK_SLACK_SECONDS
        tries = [r for r in rejects if id(r) not in claimed
                 and (r.orig_h, r.resp_h) == (session.remote_agent, session.media_server)
                 and r.resp_p != ctx.config.ndmp_port and start <= r.ts <= end]
        if not tries:
            continue
        in_range = [r for r in tries if ctx.config.in_media_range(r.resp_p)]
        first = (in_range or tries)[0]
        same = [r for r in tries if r.resp_p == first.resp_p and r.ts >= first.ts]
        claimed.update(id(r) for r in same)
        ctx.quoted_refusals[(session.id, "callback")] = same


def _attempt(rejects: list[IcmpUnreachable]) -> Connection:
    """The first refused attempt as its quote shows it, for the wording and the fix that
    a captured one gets. Never one of the analysis's connections (no uid)."""
    first = rejects[0]
    return Connection(uid="", orig_h=first.orig_h, orig_p=first.orig_p, resp_h=first.resp_h,
                      resp_p=first.resp_p, ts=first.ts, last_ts=first.ts,
                      icmp_frames=list(first.frames), icmp_code=first.icmp_code,
                      tunnel=first.tunnel)


def _frames(rejects: list[IcmpUnreachable]) -> list[int]:
    return sorted({f for r in rejects for f in r.frames})


def _unseen_words(ctx: Context, rejects: list[IcmpUnreachable]) -> str:
    """Where the evidence is: the ICMP message(s) quoting SYNs the capture lacks."""
    first = rejects[0]
    frames = ", ".join(str(f) for f in _frames(rejects))
    many = len(_frames(rejects)) > 1
    return (syns_not_held(ctx, first.orig_h, first.resp_h, [r.orig_p for r in rejects])
            + f"; the ICMP unreachable{'s' if many else ''} in frame{'s' if many else ''} "
            f"{frames} quote{'' if many else 's'} {'them' if len(rejects) > 1 else 'it'}.")
