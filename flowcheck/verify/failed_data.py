"""The finding of a session's failed data connection to one announced endpoint (split
from flowcheck.verify.data_links, its size): data_unanswered, data_refused or
handshake_incomplete by the first attempt's outcome (verify.evidence.judged), retries
included, with the address, NAT, limit and forward readings that change its words or
fix. Called by data_links.check_data, and by verify.tied_failures for a failure several
sessions fit alike. The failure is recorded as the root cause "data" (Context.causes).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.sessions.local import icmp_word
from flowcheck.verify.addresses import elsewhere, mismatched
from flowcheck.verify.after_close import late_words
from flowcheck.verify.allow_rules import allow_rule, rule_allows
from flowcheck.verify.announced_kind import (
    other_nic_fix,
    other_nic_words,
    other_version_words,
    own_address_on_it,
    reached_over_other_version,
)
from flowcheck.verify.capture_host import taken_hedges
from flowcheck.verify.context import Context, endpoint, opening_frames
from flowcheck.verify.cut_icmp import no_answer_words
from flowcheck.verify.details import failure_words
from flowcheck.verify.evidence import judged
from flowcheck.verify.fast_connect_error import fast_error_words
from flowcheck.verify.forwarded import (
    answered_meanwhile,
    forwarded_fix,
    forwarded_words,
    reset_forward_words,
    reset_meanwhile,
    router_meanwhile,
    router_reject_fix,
    router_reject_words,
)
from flowcheck.verify.handshake_incomplete import handshake_incomplete
from flowcheck.verify.limit_words import (
    limit_fix,
    limit_words,
    passed_before,
    refused_limit_fix,
)
from flowcheck.verify.local_drop import local_drop
from flowcheck.verify.lone_data_syn import lone_reading
from flowcheck.verify.nat_listener import configured_listener, nat_fix, nat_words
from flowcheck.verify.one_way_data import carried
from flowcheck.verify.opening import (
    Where,
    between_fix,
    capitalised,
    lost_where,
    own_firewall_fix,
    responder_reached,
    retried,
    silence,
)
from flowcheck.verify.other_host import report_wrong_address
from flowcheck.verify.own_unreachable import own_stack_hedges
from flowcheck.verify.plain_direction import with_lead
from flowcheck.verify.ranges import outside_range_words
from flowcheck.verify.refusals import data_refused_fix, refusal_allows, refusal_causes
from flowcheck.verify.refused_said import refusal_confirmed
from flowcheck.verify.session_words import opened_unseen_words
from flowcheck.verify.stack_own import (
    own_note,
)
from flowcheck.verify.stale_tuple import stale_words
from flowcheck.verify.ttl_exceeded import ttl_exceeded, ttl_exceeded_allows, ttl_exceeded_fix
from flowcheck.verify.unresent import cut_answer_words, lone_syn, resend_cut, resend_hedges
from flowcheck.verify.unseen_syns import refusal_notes
from flowcheck.verify.way_back import other_source_words

# A lone SYN's head by what the control connection says (flowcheck.verify.lone_data_syn).
_LONE_HEADS = {None: "never opened; whether a firewall dropped or rejected it the capture "
                     "cannot tell",
               "dropped": "never opened", "rejected": "never opened"}

# Outcomes reported as a failed opening (check_data; verify.tied_failures too).
FAILED = ("unanswered", "refused", "handshake_incomplete")


# The subject of the failed data connection's findings (Finding.subject: where
# verify.tied_failures names the sessions it fits alike).
_SUBJECT = "The data connection "


def _whose_data(ctx: Context, session: Session, conn: Connection) -> str:
    """"data", or, when other data connections of the session carried data (TCP payload,
    or in a capture of one direction the bytes their receiver's ACKs acknowledge:
    one_way_data.carried), "this connection's data (its other data connections, C4, C5,
    carried theirs)": one resource's connect failing leaves the others' data moved (lab
    matrix seed 128 run 7: 2 of 3 resources restored, read "so the job cannot move
    data"; field check 76 seed 139 run 17, `tcpdump -Q in` on the agent: 3 of 4
    resources backed up, only the media server's ACKs captured, the same)."""
    others = [c for uid in session.data_connections
              if (c := ctx.by_uid.get(uid)) is not None and c is not conn and carried(c)]
    if not others:
        return "data"
    uids = ", ".join(c.uid for c in others[:4]) + (", ..." if len(others) > 4 else "")
    many = len(others) > 1
    return (f"this connection's data (its other data connection{'s' if many else ''}, "
            f"{uids}, carried {'theirs' if many else 'its own'})")


def report_failed_data(ctx: Context, session: Session, attempts: list[Connection]) -> None:
    """The finding of a session's failed data connection to one announced endpoint
    (`attempts`, first one first), by its outcome (verify.evidence.judged): data_unanswered,
    data_refused or handshake_incomplete, with the address, NAT, limit and forward
    readings that change its words or fix."""
    first = attempts[0]
    unseen = ctx.lacks((first.resp_h, first.orig_h), first.ts)  # a reject would go that way
    outcome = judged(ctx, first)  # a refusal after the job ended: its SYNs' silence before
    wrong = mismatched(ctx, session, first.resp_h, first.resp_p)
    # Another address of the listener that the connector reaches from its own address on
    # that network is reachable: judged as any data connection (trial 19 D3).
    own = own_address_on_it(ctx, session, first, wrong) if wrong is not None else None
    # The listener's configured address behind a NAT: its SYNs' silence is judged as any
    # data connection's, the NAT a note (trial 31 D1).
    nat = configured_listener(ctx, session, wrong) if wrong is not None else None
    if report_wrong_address(ctx, session, attempts):
        return  # the announced address is the fault: replaces the firewall explanation
    # The listener's own IPv4 address beside an IPv6 control connection (field check 46).
    stack = own_note(ctx, session, wrong, attempts) if wrong is not None and own is None \
        else None
    frames = [f for conn in attempts for f in opening_frames(conn)]
    target = endpoint(first.resp_h, first.resp_p)
    tries = f" ({len(attempts)} attempts)" if len(attempts) > 1 else ""
    # Retried SYNs with no SYN-ACK: lost either way, anywhere between the hosts.
    either = retried(first, len(attempts))
    rule = allow_rule(ctx, first, session, answer=either, between=either)
    translated = dict(session.address_matched).get(first.uid)
    substitute = reached_over_other_version(session, first)
    if translated is not None:
        target += (f" (the port announced as {endpoint(translated, first.resp_p)}, reached "
                   "under the control connection's address: a NAT rewrote it)")
    elif substitute is not None:
        target += f" (the announced port, tried {other_version_words(substitute, first)})"
    elif first.uid in session.port_matched or first.uid in session.port_tied:
        why = {"capture_start": f"came {opened_unseen_words(session)}",
               "one_direction": "is not in the capture, which holds one direction of the "
                                "control connection only",
               "capture_loss": "was lost by the sniffer",
               "packet_filter": "was left out by a filter that kept no data packet",
               "encrypted": "is inside the control connection's TLS",
               "address_type": "names an address type flowcheck cannot read"}.get(
            session.match_reason, "was cut by the capture's snap length")
        # One several sessions fit alike: verify.tied_failures names them.
        whose = " to this session" if first.uid in session.port_matched else ""
        target += f" (its announcement {why}; matched{whose} by direction and ports)"
    else:
        target = "the announced endpoint " + target
    if outcome == "unanswered" and (local := local_drop(first)) is not None:
        ctx.add("data_unanswered", f"{_SUBJECT}from {first.orig_h} to {target} was "
                f"never answered{tries} ({failure_words(first)}).{local[0]}", local[1],
                session=session, conn=first, frames=frames, cause="data",
                allows=rule_allows(first), subject=len(_SUBJECT))
    elif outcome == "unanswered":
        outside = outside_range_words(ctx, session, first, "drops")
        where, quoted = lost_where(ctx, first) if either else Where("")
        # A lone SYN never resent: the control connection may tell a drop from a reject.
        lone = lone_reading(ctx, session, first, rule) \
            if lone_syn(ctx, first) and len(attempts) == 1 else None
        other = elsewhere(ctx, session, first, rule)
        words, fix = (other
                      or (outside and (outside[0], f"{outside[1]}{rule}.{where}"))
                      or ("", lone.fix if lone else f"{capitalised(rule)}.{where}"))
        # Whether the fix holds where's quote of `flowcheck firewall` (Allows.pointed).
        quoted = quoted and not other and (bool(outside) or lone is None)
        between = ""
        if either:
            between = between_fix(ctx, first, session)
            fix = between or own_firewall_fix(ctx, first, session) + fix
            quoted = quoted and not between
        if wrong is not None and own is not None:
            words += other_nic_words(ctx, session, wrong, first, own)
            fix += other_nic_fix(ctx, session, wrong)
        else:
            source = other_source_words(ctx, first)  # trial 19 D13
            words, fix = words + source[0], fix + source[1]
        if stack is not None:
            words, fix = words + stack[0], fix + stack[1]
        if wrong is not None and nat is not None:
            words += nat_words(ctx, session, wrong, nat)
            fix += nat_fix(ctx, session, wrong, nat)
        told = ""
        if either and unseen and not lone:  # the connector's word: a reject, most likely
            told, reply = fast_error_words(ctx, session, first)
            words, frames = words + told, frames + reply
        late = late_words(ctx, first)
        cut = None if lone else resend_cut(ctx, attempts)  # the capture ended after a resend
        if (passed := passed_before(ctx, first)) is not None:
            words += limit_words(ctx, first, passed)
            own = either and not between and responder_reached(ctx, first)
            fix = with_lead(limit_fix(ctx, first, passed, own), fix)
        if ttl_exceeded(first):  # the routing, not a firewall (review 54h)
            fix = ttl_exceeded_fix(first, fix)
        ctx.add("data_unanswered",
                f"{_SUBJECT}from {first.orig_h} to {target} "
                + (_LONE_HEADS[lone.kind] if lone else cut_answer_words(
                    attempts, f"{no_answer_words(first, passive=True, unseen=unseen or bool(cut))}"
                              f"{' while the job ran' if late else ''}{tries}", cut))
                + ": " + (f"{lone.words}. " if lone and lone.words else "")
                + (capitalised if lone and lone.words else str)(
                    silence(ctx, first, both_ways=True, attempts=len(attempts)))
                + f"{stale_words(ctx, first)}, so the job "
                + ("cannot move" if cut is None else "could not move")
                + f" {_whose_data(ctx, session, first)}"
                + ("" if cut is None else " while the capture ran") + f".{words}"
                f"{f' Then {late}.' if late else ''}", fix, session=session,
                conn=first, frames=frames, cause="data",
                reading="likely_rejected" if told else "",
                allows=ttl_exceeded_allows(first, rule_allows(first, pointed=quoted)),
                subject=len(_SUBJECT), hedges=resend_hedges(cut) + taken_hedges(ctx, first))
    elif outcome == "refused":
        outside = outside_range_words(ctx, session, first, "rejects")
        fix = data_refused_fix(ctx, first, session)
        fix = f"{outside[1]}{fix[:1].lower()}{fix[1:]}" if outside else fix
        # A limit rejects: a RST in the responder's own name says nothing listens there.
        passed = None if first.resp_rst else passed_before(ctx, first)
        fix = refused_limit_fix(ctx, first, passed, fix) if passed is not None else fix
        forward = answered_meanwhile(ctx, session, first)
        reset = None if forward is not None else reset_meanwhile(ctx, session, first)
        meanwhile = forward if forward is not None else reset[0] if reset else None
        fix = with_lead(forwarded_fix(ctx, first, meanwhile), fix) \
            if meanwhile is not None else fix
        # The address up and the agent's own: the router's reject (verify.forwarded).
        router = router_meanwhile(ctx, session, first)
        fix = router_reject_fix(ctx, session, first, router[0]) if router is not None else fix
        confirmed, told = refusal_confirmed(ctx, session, first)  # NDMP_CONNECT_ERR
        ctx.add("data_refused",
                f"{_SUBJECT}from {first.orig_h} to {endpoint(first.resp_h, first.resp_p)} "
                f"was refused{refused_brief(first)}{tries}: "
                f"{refusal_causes(ctx, first)}.{confirmed}{outside[0] if outside else ''}"
                f"{refusal_notes(ctx, attempts)}"
                f"{forwarded_words(first, forward) if forward is not None else ''}"
                f"{reset_forward_words(first, *reset) if reset is not None else ''}"
                f"{router_reject_words(first, *router) if router is not None else ''}"
                f"{limit_words(ctx, first, passed) if passed is not None else ''}"
                f"{stack[0] if stack else ''}",
                fix + (stack[1] if stack else ""), session=session, conn=first,
                frames=frames + told, cause="data", allows=refusal_allows(first),
                hedges=own_stack_hedges(first),
                subject=len(_SUBJECT))
    else:
        handshake_incomplete(ctx, session, first, "data connection", "data")


def refused_brief(conn: Connection) -> str:
    """What refused the SYN, for data_refused's headline: " with an ICMP unreachable
    (code 9)", with its sender when another host than the responder sent it ("...
    from 10.66.1.254"); "" for a RST (what "refused" means; the cause after it names
    it). refusal_causes says the rest (newuser66: "the data connection from 10.66.1.1
    was refused" named neither the port nor the ICMP)."""
    if not conn.icmp_frames or conn.resp_rst:
        return ""
    code = "" if conn.icmp_code is None else f" (code {conn.icmp_code})"
    sender = ("" if conn.icmp_sender in (None, conn.resp_h)
              else f" from {conn.icmp_sender}")
    return f" with an {icmp_word(conn)} unreachable{code}{sender}"
