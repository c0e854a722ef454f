"""A host that never sent a packet in the whole capture (new-user trial 23, D6).

An agent that is down (or not at that address, or behind a rule that drops all its
traffic) leaves only the media server's retried SYNs: no SYN-ACK, RST or ICMP. When the
capture holds other hosts' packets to the same media server, it holds the way back to
it, so it is no capture of one direction: the answers are not missing from it, they
were never sent or never got that far. A night of attempts at such a host is one cause:
the first attempt's finding says it and counts them, the later ones name the first.

A host that sent no TCP packet but an ARP or neighbour discovery packet from its address
is up there only when that packet proves it (verify.link_proof: near the attempts in
time, and its MAC no proxy's nor a second host's): then something drops the TCP
traffic (field check 53). A packet that proves less is named with what it shows, and
the reading stays the silent host's.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.utc_times import utc_text
from flowcheck.verify.allow_rules import allow_rule, capitalised, rule_allows
from flowcheck.verify.arrival import arrived_silent, silent_fix
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.cooked_host import arrived_unanswered, arrived_words, leaving_taken
from flowcheck.verify.evidence import judged
from flowcheck.verify.link_proof import LinkProof, link_proof
from flowcheck.verify.syns_held import syns_sent_words
from flowcheck.verify.unresent import cut_answer_words, resend_cut, resend_hedges

# Hosts named in the words; more are counted.
_NAMED = 3
# Sessions named in the first attempt's words; more are counted.
_SESSIONS_NAMED = 12


def way_back_from(ctx: Context, conn: Connection) -> list[str]:
    """The hosts whose TCP packets to `conn`'s originator the capture holds, when its
    responder sent not a single TCP packet in the whole capture (to the originator or to
    any other host); [] otherwise."""
    held = ctx.held_at(conn.ts)  # in conn's piece of the set (sources.pieces)
    if any(sender == conn.resp_h for sender, _ in held):
        return []
    if conn.icmp_untied is not None and conn.icmp_untied[2] == conn.resp_h:
        return []  # it sent an ICMP unreachable the snap length cut (verify.cut_icmp)
    return sorted({sender for sender, receiver in held
                   if receiver == conn.orig_h and sender != conn.resp_h})


def silent_attempts(ctx: Context, conn: Connection) -> list[Session]:
    """The sessions, in order, whose control connection went from `conn`'s originator to
    its endpoint with SYNs resent and never answered, when its responder never sent a
    packet in the capture (way_back_from); [] otherwise."""
    if conn.syn_retries == 0 or not way_back_from(ctx, conn):
        return []
    found = []
    for session in ctx.sessions:
        control = ctx.by_uid[session.control_uid]
        if (control.orig_h, control.resp_h, control.resp_p) == \
                (conn.orig_h, conn.resp_h, conn.resp_p) and control.syn_retries > 0 \
                and judged(ctx, control) == "unanswered":
            found.append(session)
    return found


def report_silent(ctx: Context, session: Session, conn: Connection,
                  attempts: list[Session]) -> None:
    """control_unanswered for a control connection to a host that never sent a packet
    (silent_attempts gave `attempts`, the session's among them): the first attempt says
    what that shows, counts the attempts, and asks for the host first, the firewall rule
    one possibility; a later one is short and names the first."""
    # A capture that ended within the resends' reach says so, as the step does
    # (verify.unresent.resend_cut; field53 two-jobs-control-synacks-dropped-by-agent-ipv6
    # cut after frame 270: "never got an answer" beside a step "ended 576 ms after").
    resent = resend_cut(ctx, [conn])
    answer = cut_answer_words([conn], "got no answer in the capture" if resent else
                              "never got an answer", resent, counted=True)
    cut = " while the capture ran" if resent else ""
    head = (f"The media server {conn.orig_h} sent {syns_sent_words(ctx, conn)} to "
            f"the agent's NDMP port {endpoint(conn.resp_h, conn.resp_p)} and {answer}")
    first = attempts[0]
    proof = _proof(ctx, conn.resp_h, attempts)
    spoke = proof is not None and proof.up
    if first is not session:
        ctx.add("control_unanswered",
                f"{head}, as in session {first.id}: {conn.resp_h} sent "
                f"{'not a single packet' if proof is None else 'no TCP packet'} "
                f"in the whole capture (attempt {attempts.index(session) + 1} of "
                f"{len(attempts)}; session {first.id}'s control_unanswered says what that "
                "shows).",
                (f"Something drops the TCP traffic between the hosts (as for session "
                 f"{first.id}: see its control_unanswered)." if spoke else
                 f"Check that {conn.resp_h} is up and is the agent's address (as for session "
                 f"{first.id}: see its control_unanswered)."),
                session=session, conn=conn, cause="control", hedges=resend_hedges(resent))
        return
    others = way_back_from(ctx, conn)
    named = ", ".join(others[:_NAMED]) + (f" and {len(others) - _NAMED} more"
                                           if len(others) > _NAMED else "")
    rule = allow_rule(ctx, conn, session, answer=True, between=True)
    arrived = arrived_unanswered(ctx, conn.orig_h, conn.resp_h)
    if proof is not None and proof.up and arrived is not None:
        # The Linux cooked marks show the SYNs arriving at the capture host: no device
        # between the hosts dropped them (lab matrix seed 127 run 2: `tcpdump -i any` on
        # the agent host of two jobs, one agent's SYN-ACKs dropped by its output chain,
        # read "a firewall on fd77::2 or between the hosts" and asked for "a capture on
        # fd77::2").
        sent = f"sent no TCP packet in the whole capture, though {proof.words}"
        reading = (f"something drops the connection's packets where the SYNs arrived: "
                   f"{conn.resp_h}'s own firewall, or the first router from {conn.orig_h} "
                   "toward it if this capture was taken there (the fix says why)")
        fix = (f"{capitalised(rule)}. "
               f"{arrived_words(conn.orig_h, conn.resp_h, arrived, leaving_taken(ctx))}")
    elif proof is not None and proof.up and arrived_silent(ctx, conn):
        # Two hosts' `tcpdump -i any` merged: the SYNs' marks place them leaving the media
        # server and arriving at the agent's point or the first router's (verify.arrival),
        # so no device before that point dropped them, and the capture asked for is in the
        # file (field check 76 seed 139 run 6: the agent's input chain dropping the control
        # SYNs, its neighbour advertisement the only packet of its, read "a firewall on
        # fd77::3 or between the hosts" and asked for "A capture on fd77::3").
        sent = f"sent no TCP packet in the whole capture, though {proof.words}"
        reading = (f"something drops the connection's packets where the SYNs arrived: "
                   f"{conn.resp_h}'s own firewall, or the first router from {conn.orig_h} "
                   "toward it if a capture point of the set is there (the fix says why)")
        fix = f"{capitalised(rule)}. {silent_fix(conn)}"
    elif proof is not None and proof.up:  # it answered its neighbours there: TCP is lost
        sent = f"sent no TCP packet in the whole capture, though {proof.words}"
        reading = (f"something drops the connection's packets (a firewall on {conn.resp_h} "
                   "or between the hosts that drops the SYNs, or the answers: "
                   f"{conn.resp_h}'s own output chain dropping its SYN-ACKs looks the same)")
        fix = (f"{capitalised(rule)}. A capture on {conn.resp_h} shows whether the SYNs "
               "reach it (there, SYNs arriving with no SYN-ACK leaving are its own "
               "firewall's drop).")
    else:
        sent = ("sent not a single packet in the whole capture" if proof is None else
                f"sent no TCP packet in the whole capture; {proof.words}")
        reading = (f"{conn.resp_h} is down, is not at that address (a wrong or stale "
                   "address, DNS), or all its traffic is dropped (a firewall on it or "
                   "between the hosts that drops the SYNs, or every answer)")
        fix = (f"Check that {conn.resp_h} is up and is the agent's address (from the media "
               f"server: ping {conn.resp_h}, its neighbour entry (ip neigh, arp -a), the "
               "address or DNS name the job uses); if it is, something drops all its "
               f"traffic: {rule}. A capture on {conn.resp_h} shows whether the SYNs reach it.")
    ctx.add("control_unanswered",
            f"{head}: {conn.resp_h} {sent}. No SYN-ACK, RST or ICMP reject, to "
            f"{conn.orig_h} or to any other host, although the capture holds the way back "
            f"to {conn.orig_h}: it holds packets from {named} to it. So no answer is "
            f"missing from the capture: {reading}. The retried SYNs show that no answer "
            f"reached {conn.orig_h}: the connection never opened{cut}."
            f"{_attempts_words(ctx, attempts)}",
            fix, session=session, conn=conn, cause="control", allows=rule_allows(conn),
            hedges=resend_hedges(resent))


def _proof(ctx: Context, address: str, attempts: list[Session]) -> LinkProof | None:
    """What the capture's ARP or neighbour discovery packets from `address` show of it
    at the `attempts` (verify.link_proof; Context.link_claims: configured agents only);
    None when it holds none."""
    spans = []
    for attempt in attempts:
        control = ctx.by_uid[attempt.control_uid]
        start = control.syn_ts if control.syn_ts is not None else control.ts
        spans.append((start, max(start, control.last_ts)))
    return link_proof(ctx.link_claims, address, spans)


def _attempts_words(ctx: Context, attempts: list[Session]) -> str:
    """The count and span of the attempts, for the first's finding; "" for one."""
    if len(attempts) < 2:
        return ""
    ids = [s.id for s in attempts]
    first = ctx.by_uid[attempts[0].control_uid]
    last = ctx.by_uid[attempts[-1].control_uid]
    return (f" The same in all {len(attempts)} attempts of the capture from {first.orig_h} "
            f"to {endpoint(first.resp_h, first.resp_p)}: sessions {_listed(ids)}, from "
            f"{_clock(first.ts)} to {_clock(last.ts)}; the later ones name "
            "this one.")


def _listed(ids: list[str]) -> str:
    """"S1, S2 and S3"; past _SESSIONS_NAMED, the first ones and the last, counted."""
    if len(ids) > _SESSIONS_NAMED:
        shown = ids[:_SESSIONS_NAMED - 1]
        return (f"{', '.join(shown)}, ... ({len(ids) - len(shown) - 1} more) and {ids[-1]}")
    return f"{', '.join(ids[:-1])} and {ids[-1]}"


def _clock(ts: float) -> str:
    """A packet time as UTC ISO 8601 to the second."""
    return utc_text(ts, millis=False)
