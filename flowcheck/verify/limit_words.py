"""A connection dropped or rejected right after another one like it passed the same way:
a limit on new connections, not a missing allow rule.

A firewall that lets the job's first data connection through and drops or rejects the
next ones to the same host and port range a moment later has the rule that allows them:
what stops the others is a limit on new connections (a rate, or a count per source:
nftables' `limit`, `meter` and `ct count`, iptables' `hashlimit` and `connlimit`, a
commercial firewall's session or connection-rate limit, an IPS's flood protection) or a
rule for some ports of the range only (field check trial 37b: `limit rate 1/minute burst
2` and `meter ... limit rate over 1/minute ... reject` read "allow TCP ... 6001-6100"
alone). Said by data_unanswered and data_refused (flowcheck.verify.failed_data), and by
callback_unanswered and callback_refused (flowcheck.verify.links).

When the connection that passed is an earlier job's (another session, its control
connection's last packet before this connection's first SYN), a rule changed between the
two jobs reads as well: the way let the range through when the first job ran, which says
nothing of the rules when the second one ran
(new user trial 56: lab/clean-3-resources.pcap and lab/data-port-dropped.pcap, two runs
with and without a drop rule, in one directory: C5 of the first job reached 6003 10 s
before the second job's SYNs to 6001, read "more likely a limit on new connections"). The
words then name both jobs and all three readings, none the likelier, and the fix looks
for a changed rule beside the limit (field check 43's rate limit passed job 1's callback
and dropped job 2's: a limit still leads). A refusal by a filter's reject (an ICMP
administratively prohibited) names a rule: its fix opens with that rule, the limit among
what the rule may be after it (refused_limit_fix; newuser62).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.model import Connection
from flowcheck.verify.context import Context
from flowcheck.verify.plain_direction import with_lead

# How long before the failed one the other connection opened, at most (seconds): a job
# opens its resources' connections seconds apart; a limit counts per second or minute.
PASSED_WITHIN = 120.0


def _same_range(ctx: Context, one: int, two: int) -> bool:
    """Are ports `one` and `two` both in the agent range, or both in the media range, as
    the user configured it? Not a range that holds every port above 1024, left at
    flowcheck's default 1025-65535 or set to it (Config.wide_ranges: the NDMP port's
    connection read as "the way lets that range through" for a plain drop of the data
    ports, new-user trial 42; readings62: the same with `--agent-range 1025-65535`
    given), and never the NDMP port, a rule of its own."""
    config = ctx.config
    if config.ndmp_port in (one, two):
        return False
    wide = config.wide_ranges()
    return (("agent" not in wide and config.in_agent_range(one) and config.in_agent_range(two))
            or ("media" not in wide and config.in_media_range(one)
                and config.in_media_range(two)))


def passed_before(ctx: Context, conn: Connection) -> Connection | None:
    """The latest connection from conn's originator to its responder, to a port of the
    same configured range (another port than conn's own or the same), that opened (its
    handshake completed) at most PASSED_WITHIN seconds before conn's first SYN; None
    when none."""
    start = conn.opening_ts
    passed = [c for c in ctx.connections
              if c is not conn and c.established and c.orig_h == conn.orig_h
              and c.resp_h == conn.resp_h and _same_range(ctx, c.resp_p, conn.resp_p)
              and 0.0 <= start - c.ts <= PASSED_WITHIN]
    return max(passed, key=lambda c: c.ts, default=None)


# The rules that limit new connections, as the words name them.
_LIMIT_RULES = ("nftables' `limit`, `meter` or `ct count`, iptables' `hashlimit` or "
                "`connlimit`, a firewall's session or connection-rate limit")
_LIMITS = ("a limit on new connections (a rate, or a count per source: "
           f"{_LIMIT_RULES}, an IPS's flood protection)")


def other_job(ctx: Context, conn: Connection, other: Connection) -> tuple[str, str] | None:
    """(the other's session id, conn's) when `other` is of another session than conn
    (another job), both known, whose control connection closed (its first FIN or RST)
    and sent its last packet before conn's first SYN (an earlier job, over when this one
    tried: concurrent jobs share the rules of the moment); None else. A control
    connection silent from before the SYN to the capture's end is no sign of a job
    over: NDMP's is idle while the data moves (review 56c: a lab job's backup still
    flowing on its data connection when the second job's SYNs went unanswered, the
    capture stopped before its end, read "an earlier job")."""
    mine, theirs = ctx.session_of(conn), ctx.session_of(other)
    if mine is None or theirs is None or mine.id == theirs.id:
        return None
    control = ctx.by_uid.get(theirs.control_uid)
    stream = ctx.stream_by_uid.get(theirs.control_uid)
    if control is None or stream is None or control.last_ts >= conn.opening_ts:
        return None
    closed = [p.ts for p in (stream.fin, stream.reset) if p is not None]
    if not closed or min(closed) >= conn.opening_ts:
        return None
    return theirs.id, mine.id


def limit_words(ctx: Context, conn: Connection, other: Connection) -> str:
    """The sentence for passed_before's `other`: a limit the likelier reading, or, when
    `other` is an earlier job's (other_job), a limit, a rule for some ports and a rule
    changed between the jobs alike."""
    start = conn.opening_ts
    passed = (f" Yet {other.uid}, from {other.orig_h} to {other.resp_h} port {other.resp_p}, "
              f"opened {span_words(max(0.0, start - other.ts))} before through the same "
              "path")
    jobs = other_job(ctx, conn, other)
    if jobs is None:
        return (f"{passed}: the way lets that range through, so what stops this one is more "
                f"likely {_LIMITS} or a rule for some of its ports only.")
    return (f"{passed}, in an earlier job (session {jobs[0]}; this is {jobs[1]}): the way let "
            f"that range through while that job ran, so what stops this one is {_LIMITS}, "
            "a rule for some of its ports only, or a rule changed between the two jobs (one "
            "added, or the one that let the first through removed); the capture cannot "
            "tell which.")


def limit_fix(ctx: Context, conn: Connection, other: Connection, own: bool = False) -> str:
    """The fix's opening for passed_before's reading (`other`: the connection that
    passed); for an earlier job's (other_job), a rule changed since that job too. own:
    the SYNs are shown reaching the responder's own capture point
    (verify.opening.responder_reached), so the limit or per-port rule that stops them is
    the responder's own firewall's, not a device between (newuser68 item 2: slow3-a.pcap,
    taken on the agent whose input chain dropped only SYNs to 6002, led "on the firewalls
    between 10.68.1.1 and 10.68.2.2")."""
    jobs = other_job(ctx, conn, other)
    changed = ("" if jobs is None else
               f", and for a rule added or changed since session {jobs[0]}'s job "
               "(the firewall's log or change history tells)")
    where = (f"In {conn.resp_h}'s own firewall (the SYNs reached its capture point)" if own
             else f"On the firewalls between {conn.orig_h} and {conn.resp_h}")
    return (f"{where}, look for a limit "
            f"on new connections or a rule for some ports of the range only{changed}, and "
            "raise the limit above what a job opens at once (two connections per resource); "
            "else: ")


def refused_limit_fix(ctx: Context, conn: Connection, other: Connection, fix: str) -> str:
    """A refusal's `fix` (data_refused, callback_refused by a filter's reject) with what
    passed_before's `other` says. Within one job (a limit the likelier reading, the
    message's "more likely"), limit_fix leads, as for a drop (trial 37b: a `meter ...
    reject` rejected the second of a job's data connections 43 ms after the first).
    After an earlier job's (other_job) a changed rule reads as well, and the reject the
    ICMP names is a rule first: the fix opens with it, then what that rule may be
    (newuser62: one SYN rejected with `reject with icmp admin-prohibited` after an
    earlier good job, its fix opening "raise the limit above what a job opens at once")."""
    jobs = other_job(ctx, conn, other)
    if jobs is None:
        return with_lead(limit_fix(ctx, conn, other), fix)
    return (f"{fix} {other.uid} to {other.resp_h} port {other.resp_p} passed the same way "
            f"{span_words(max(0.0, conn.opening_ts - other.ts))} before, in session "
            f"{jobs[0]}'s job: if that reject rule is a limit on new connections "
            f"({_LIMIT_RULES}), raise it above what a job opens "
            "at once (two connections per resource); it may also cover some ports of the "
            f"range only, or be one added or changed since session {jobs[0]}'s job (the "
            "firewall's log or change history tells).")
