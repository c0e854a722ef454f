"""A connection dropped or rejected right after another one like it passed the same way:
a limit on new connections, not a missing allow rule.

A firewall that lets the job's first data connection through and drops or rejects the
next ones to the same host and port range a moment later has the rule that allows them:
what stops the others is a limit on new connections (a rate, or a count per source:
nftables' `limit`, `meter` and `ct count`, iptables' `hashlimit` and `connlimit`, a
commercial firewall's session or connection-rate limit, an IPS's flood protection) or a
rule for some ports of the range only (field check trial 37b: `limit rate 1/minute burst
2` and `meter ... limit rate over 1/minute ... reject` read "allow TCP ... 6001-6100"
alone). Said by data_unanswered and data_refused (flowcheck.verify.data_links).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.model import Connection
from flowcheck.verify.context import Context

# How long before the failed one the other connection opened, at most (seconds): a job
# opens its resources' connections seconds apart; a limit counts per second or minute.
PASSED_WITHIN = 120.0


def _same_range(ctx: Context, one: int, two: int) -> bool:
    """Are ports `one` and `two` both in the agent range, or both in the media range, as
    the user configured it? Not a range left at flowcheck's default (1025-65535 holds
    nearly every port: the NDMP port's connection read as "the way lets that range
    through" for a plain drop of the data ports, new-user trial 42), and never the NDMP
    port, a rule of its own."""
    config = ctx.config
    if config.ndmp_port in (one, two):
        return False
    unset = config.default_ranges()
    return (("agent" not in unset and config.in_agent_range(one) and config.in_agent_range(two))
            or ("media" not in unset and config.in_media_range(one)
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


def limit_words(ctx: Context, conn: Connection, other: Connection) -> str:
    """The sentence for passed_before's `other`."""
    start = conn.opening_ts
    return (f" Yet {other.uid}, from {other.orig_h} to {other.resp_h} port {other.resp_p}, "
            f"opened {span_words(max(0.0, start - other.ts))} before through the same path: "
            "the way lets that range through, so what stops this one is more likely a "
            "limit on new connections (a rate, or a count per source: nftables' `limit`, "
            "`meter` or `ct count`, iptables' `hashlimit` or `connlimit`, a firewall's "
            "session or connection-rate limit, an IPS's flood protection) or a rule for "
            "some of its ports only.")


def limit_fix(conn: Connection) -> str:
    """The fix's opening for passed_before's reading."""
    return (f"On the firewalls between {conn.orig_h} and {conn.resp_h}, look for a limit "
            "on new connections or a rule for some ports of the range only, and raise the "
            "limit above what a job opens at once (two connections per resource); else: ")
