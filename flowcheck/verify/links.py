"""Checks on the connections of each session: did they open, on which ports, where to.

One root cause gives one error finding: retries of one failed connection are reported
once, and the cause is recorded in Context.causes so the step and NDMP checks do not
report its consequences again.

Here: the control connection and the callback; connections no session announced are
flowcheck.verify.unannounced's, the data connections flowcheck.verify.data_links', the
ports and networks flowcheck.verify.ranges', and the words for a failed opening
flowcheck.verify.opening's.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.verify.allow_rules import allow_rule, rule_allows
from flowcheck.verify.arrival import arrived_silent, silent_fix
from flowcheck.verify.backup_network import check_backup_network
from flowcheck.verify.callback_address import elsewhere_failure
from flowcheck.verify.capture_host import taken_hedges
from flowcheck.verify.capture_points import reached_marked, reached_second_point
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.cooked_host import arrived_unanswered, arrived_words, leaving_taken
from flowcheck.verify.cut_announcements import check_cut_announcements
from flowcheck.verify.cut_icmp import no_answer_words
from flowcheck.verify.data_links import check_data
from flowcheck.verify.details import failure_words
from flowcheck.verify.evidence import judged, note_unseen
from flowcheck.verify.fallback import fallback_of, report_callback_fallback, report_fallback
from flowcheck.verify.foreign_reset import (
    undecremented_fix,
    undecremented_reset,
    undecremented_words,
)
from flowcheck.verify.half_open import half_open_check
from flowcheck.verify.handshake_incomplete import handshake_incomplete
from flowcheck.verify.limit_words import (
    limit_fix,
    limit_words,
    passed_before,
    refused_limit_fix,
)
from flowcheck.verify.local_drop import local_drop
from flowcheck.verify.lone_callback_syn import lone_callback
from flowcheck.verify.no_session import no_control_session, pieces_without_session
from flowcheck.verify.opening import (
    Where,
    between_fix,
    capitalised,
    lost_where,
    none_words,
    one_way_where,
    own_firewall_fix,
    responder_reached,
    retried,
    silence,
)
from flowcheck.verify.own_unreachable import own_stack_hedges, own_stack_refused
from flowcheck.verify.plain_direction import with_lead
from flowcheck.verify.ranges import (
    check_ports,
    host_local,
    note_swapped_ranges,
    outside_range_words,
    translated_host,
    unread_end,
)
from flowcheck.verify.refusals import (
    callback_refused_fix,
    device_fix,
    device_words,
    icmp_cause,
    own_refusal_words,
    refusal_allows,
    refusal_causes,
    refusal_how,
    refused_fix,
    refused_in_name,
    rejecting_device,
)
from flowcheck.verify.silent_host import report_silent, silent_attempts
from flowcheck.verify.syns_held import syns_sent_words
from flowcheck.verify.tied_failures import check_tied_callbacks, check_tied_data
from flowcheck.verify.ttl_exceeded import (
    traceroute_probe,
    ttl_exceeded,
    ttl_exceeded_allows,
    ttl_exceeded_fix,
)
from flowcheck.verify.unannounced import check_unannounced
from flowcheck.verify.unresent import cut_answer_words, lone_syn, resend_cut, resend_hedges
from flowcheck.verify.unseen_syns import refusal_notes
from flowcheck.verify.way_back import answer_uncaptured, came_back

# callback_refused's subject (Finding.subject: where verify.tied_failures names the
# sessions a callback fits alike).
_REFUSED = "The agent's callback "


def check_links(ctx: Context) -> None:
    """Every session's connections in turn (control, callback, data, cut announcements,
    backup network), then the connections between the hosts that none announced; with
    no session, no_control_session and those connections between configured hosts."""
    if not ctx.sessions:
        no_control_session(ctx)
        # The configured hosts' connections no session explains (trial 54: a capture
        # that left out the control connection listed the job's as role other, silent).
        check_unannounced(ctx)
        return
    for session in ctx.sessions:
        control = ctx.by_uid[session.control_uid]
        _check_control(ctx, session, control)
        if session.callback_uid:
            _check_callback(ctx, session, ctx.by_uid[session.callback_uid])
            report_callback_fallback(ctx, session, ctx.by_uid[session.callback_uid])
        check_data(ctx, session)
        check_cut_announcements(ctx, session)
    check_tied_data(ctx)  # data connections several sessions fit alike
    check_tied_callbacks(ctx, _check_callback)  # callbacks so
    check_backup_network(ctx)
    note_swapped_ranges(ctx)
    pieces_without_session(ctx)  # a file apart in time with no session, as read alone
    check_unannounced(ctx)


def _arrived_or_elsewhere(ctx: Context, conn: Connection) -> Where:
    """The close of control_unanswered's fix when the capture holds no TCP of the way back:
    where the Linux cooked marks place the SYNs' arrival (cooked_host.arrived_unanswered),
    else, when the responder's packets that are not TCP show the capture holds that way
    (way_back.came_back), lost_where's (Where: whether they quote `flowcheck firewall`),
    else, the responder's own capture merged in (arrival.arrived_silent), silent_fix's,
    else where a capture would tell, asked at the connection's time (opening.none_words)
    (with its leading space)."""
    ttl = arrived_unanswered(ctx, conn.orig_h, conn.resp_h)
    if ttl is not None:
        return Where(" " + arrived_words(conn.orig_h, conn.resp_h, ttl, leaving_taken(ctx)))
    if came_back(ctx, conn) is not None:
        # The responder's packets that are not TCP: the capture holds the way back
        # (way_back.came_back), so not one_way_where's "holds no packet from" (review 56b).
        return lost_where(ctx, conn)
    if arrived_silent(ctx, conn):  # the responder's own capture merged in (verify.arrival)
        return Where(" " + silent_fix(conn))
    # as data_unanswered's (opening.lost_where), asked at the connection's time
    return Where(one_way_where(conn, none=none_words(ctx, conn, at_all=False)))


def _routing_or(conn: Connection, fix: str) -> str:
    """`fix`, or the routing's fix where an ICMP time exceeded quoted the connection's
    SYNs (verify.ttl_exceeded: with `fix` too where only some did, review 54i)."""
    return ttl_exceeded_fix(conn, fix) if ttl_exceeded(conn) else fix


def _check_control(ctx: Context, session: Session, conn: Connection) -> None:
    """Step 1's findings for the session's control connection `conn`: refused,
    unanswered, a half-completed handshake (a traceroute's probe none of these), its
    source port outside the media range; given up for the other IP version, the
    fallback's."""
    fallback = fallback_of(ctx, conn)
    if fallback is not None and fallback.conn is not conn:
        # Given up for the agent's other IP version, where the job ran (trial 28 D1).
        report_fallback(ctx, session, conn, fallback)
        return
    outcome = judged(ctx, conn)
    if outcome == "unknown":
        note_unseen(ctx, session, conn, "control connection")
    target = endpoint(conn.resp_h, conn.resp_p)
    rule = allow_rule(ctx, conn, session)
    if outcome in ("unanswered", "handshake_incomplete") and traceroute_probe(ctx, conn):
        outcome = "probe"  # a traceroute's, no job: step 1 says what it was (review 54i)
    # A host that never sent a packet while the capture holds the way back: said once,
    # counted, the later attempts naming the first (trial 23 D6).
    silent = silent_attempts(ctx, conn) if outcome == "unanswered" else []
    local = local_drop(conn) if outcome == "unanswered" else None
    if silent:
        report_silent(ctx, session, conn, silent)
    elif local is not None:  # one host's own loopback (trial 43)
        ctx.add("control_unanswered",
                f"The media server {conn.orig_h} sent SYNs to the agent's NDMP port {target} "
                f"and never got an answer ({failure_words(conn)}).{local[0]}", local[1],
                session=session, conn=conn, cause="control", allows=rule_allows(conn))
    elif outcome == "unanswered":
        # Retried SYNs with no SYN-ACK captured: the SYNs or their SYN-ACKs may be the
        # ones dropped (as for the callback and the data connection), so the fix names
        # the rule for each.
        unseen_way_back = (answer_uncaptured(ctx, conn) and not reached_second_point(ctx, conn)
                           and not reached_marked(ctx, conn))
        either = retried(conn)
        own = own_firewall_fix(ctx, conn, session) if either and not unseen_way_back else ""
        allow = allow_rule(ctx, conn, session, answer=either, between=either)
        unseen = ctx.lacks((conn.resp_h, conn.orig_h), conn.ts)  # a reject would go that way
        cut = resend_cut(ctx, [conn])  # the capture ended after a resend
        answer = cut_answer_words([conn], no_answer_words(conn, unseen=unseen or bool(cut)),
                                  cut, counted=True)
        where = _arrived_or_elsewhere(ctx, conn) if unseen_way_back \
            else lost_where(ctx, conn) if either else Where("")
        ctx.add("control_unanswered",
                f"The media server {conn.orig_h} sent {syns_sent_words(ctx, conn)} "
                f"to the agent's NDMP port {target} and "
                f"{answer}: {silence(ctx, conn, both_ways=True)}.",
                _routing_or(conn, f"{own}"
                            f"{capitalised(allow)}"
                            f"; check that {_ndmp_service(ctx)} runs on {conn.resp_h}."
                            + where.words),
                session=session, conn=conn, cause="control",
                allows=ttl_exceeded_allows(conn, rule_allows(conn, pointed=where.quoted)),
                hedges=resend_hedges(cut) + taken_hedges(ctx, conn))
    elif outcome == "refused" and own_stack_refused(conn):
        # The media server's own ICMP to itself: its ARP or neighbour discovery (trial 28 D7).
        ctx.add("control_refused",
                f"The media server {conn.orig_h} could not send the control connection's SYN "
                f"to the agent's NDMP port {target}: {own_refusal_words(conn)}.",
                refused_fix(ctx, conn, session), session=session, conn=conn, cause="control",
                allows=refusal_allows(conn), hedges=own_stack_hedges(conn))
    elif outcome == "refused" and (device := rejecting_device(conn)) is not None:
        ctx.add("control_refused",
                f"The control connection from {conn.orig_h} was refused: "
                f"{device_words(conn, device)}." + refusal_notes(ctx, [conn]),
                device_fix(ctx, conn, session, device),
                session=session, conn=conn, cause="control", allows=refusal_allows(conn))
    elif outcome == "refused" and (in_name := refused_in_name(ctx, conn)) is not None:
        # A router's or firewall's RST (trial 19 D4) or ICMP reject (verify.own_reject) in
        # the agent's name.
        ctx.add("control_refused",
                f"The control connection from {conn.orig_h} was refused: "
                f"{in_name.words}." + refusal_notes(ctx, [conn]),
                refused_fix(ctx, conn, session, in_name), session=session, conn=conn,
                cause="control", allows=refusal_allows(conn))
    elif outcome == "refused":
        cause = icmp_cause(ctx, conn)
        rst = undecremented_reset(ctx, conn)
        fix = refused_fix(ctx, conn, session) if cause else (
            f"Start {_ndmp_service(ctx)} on {conn.resp_h} (NDMP port "
            f"{ctx.config.ndmp_port}) and {rule}."
            + ("" if rst is None else undecremented_fix(ctx, conn, session)))
        ctx.add("control_refused",
                f"The agent's NDMP port {target} refused the control connection from "
                f"{conn.orig_h} with {refusal_how(conn)}: "
                + (f"{cause}." if cause else "no agent listening, or a firewall rejects it.")
                + ("" if rst is None else undecremented_words(conn, rst))
                + refusal_notes(ctx, [conn]),
                fix, session=session, conn=conn, cause="control",
                allows=refusal_allows(conn, bool(fix)))
    elif outcome == "handshake_incomplete" and not half_open_check(ctx, conn):
        # A half-open port check is no job: step 1 says what it was, nothing failed.
        handshake_incomplete(ctx, session, conn, "control connection", "control")
    media_port = conn.orig_p
    # A source NAT's port when the media server is seen under a translated address:
    # host_not_configured names it (flowcheck.verify.ranges).
    if outcome != "probe" and not ctx.config.in_media_range(media_port) and \
            not host_local(conn) and \
            translated_host(ctx, session, conn, "media") is None and \
            not unread_end(ctx, session, "media", conn.orig_h):
        if ctx.profile.callback == "control":
            # In this reading the control connection itself is the job engine's port.
            ctx.add("port_outside_media_range",
                    f"The control connection leaves the media server from port {media_port}, "
                    f"outside {ctx.ranges('media')}; this profile takes it as the job "
                    "engine's port.",
                    f"Set the media server's dynamic port range to include the ports the job "
                    f"engine binds, or allow TCP from {conn.orig_h} ports {media_port} to "
                    f"{conn.resp_h} port {conn.resp_p}.", session=session, conn=conn,
                    allows=rule_allows(conn))
        else:
            ctx.add("control_port_outside_media_range",
                    f"The control connection leaves the media server {conn.orig_h} from port "
                    f"{media_port}, outside {ctx.ranges('media')}.",
                    "Harmless if the firewall allows any source port toward the NDMP port; "
                    f"otherwise allow TCP from {conn.orig_h} (any port) to {conn.resp_h} port "
                    f"{conn.resp_p}.", session=session, conn=conn, allows=rule_allows(conn))


def _check_callback(ctx: Context, session: Session, conn: Connection) -> None:
    """Step 2's findings for the session's callback `conn` (also for a callback several
    sessions fit: tied_failures): unanswered, refused, a half-completed handshake, its
    ports."""
    outcome = judged(ctx, conn)
    if outcome == "unknown":
        note_unseen(ctx, session, conn, "callback")
    target = endpoint(conn.resp_h, conn.resp_p)
    rule = allow_rule(ctx, conn, session)
    agent = f"The agent {conn.orig_h} "  # the unanswered one's subject (Finding.subject)
    if outcome == "unanswered" and (local := local_drop(conn)) is not None:
        ctx.add("callback_unanswered",
                f"{agent}tried to call the job engine back at {target} (step "
                f"2) and never got an answer ({failure_words(conn)}).{local[0]}", local[1],
                session=session, conn=conn, cause="callback", allows=rule_allows(conn),
                subject=len(agent))
    elif outcome == "unanswered":
        outside = outside_range_words(ctx, session, conn, "drops")
        either = retried(conn)
        unseen = ctx.lacks((conn.resp_h, conn.orig_h), conn.ts)  # a reject would go that way
        rule = allow_rule(ctx, conn, session, answer=either, between=either)
        where, quoted = lost_where(ctx, conn) if either else Where("")
        # To another address than the control connection's peer: a NAT in front of the
        # media server, most often (trial 19, D5), where the firewall words do not apply.
        elsewhere = elsewhere_failure(ctx, session, conn, allow_rule(ctx, conn, session))
        # SYNs lost between two capture points (re-check of trial 26, N2a): the device
        # between them, as for the data connection (verify.opening.between_fix).
        between = between_fix(ctx, conn, session) if either else ""
        if between and outside:
            between = f"{outside[1]}{between[:1].lower()}{between[1:]}"
        # A lone SYN never resent, its job stopped after it: what was and was not seen,
        # both readings in the fix (verify.lone_callback_syn; trial 25 D4).
        lone = lone_callback(ctx, session, conn, rule) \
            if not elsewhere and lone_syn(ctx, conn) else None
        cut = resend_cut(ctx, [conn])  # the capture ended after a resend
        answer = cut_answer_words([conn], no_answer_words(conn, unseen=unseen or bool(cut)),
                                  cut)
        message = (f"{agent}tried to call the job engine back at {target} "
                   "(step " + (f"2) and never got an answer ({failure_words(conn)})."
                               f"{elsewhere[0]}" if elsewhere else
                               f"2) and {lone[0]}." if lone else
                               f"2) and {answer}: "
                               f"{silence(ctx, conn, both_ways=True)}.")
                   + (outside[0] if outside and not elsewhere else ""))
        fix = _routing_or(conn, elsewhere[1] if elsewhere else between or
                          (own_firewall_fix(ctx, conn, session) if either else "")
                          + (f"{outside[1]}{rule}." if outside else lone[1] if lone
                             else f"{capitalised(rule)}.") + where)
        quoted = quoted and not elsewhere and not between  # where's words in the fix
        # An earlier callback through the same way passed: a limit (trial 43).
        if not elsewhere and (passed := passed_before(ctx, conn)) is not None:
            message += limit_words(ctx, conn, passed)
            own = either and not between and responder_reached(ctx, conn)
            fix = with_lead(limit_fix(ctx, conn, passed, own), fix)
        ctx.add("callback_unanswered", message, fix, session=session, conn=conn,
                cause="callback",
                allows=ttl_exceeded_allows(conn, rule_allows(conn, pointed=quoted)),
                subject=len(agent), hedges=resend_hedges(cut) + taken_hedges(ctx, conn))
    elif outcome == "refused":
        outside = outside_range_words(ctx, session, conn, "rejects")
        fix = callback_refused_fix(ctx, conn, session)
        fix = f"{outside[1]}{fix[:1].lower()}{fix[1:]}" if outside else fix
        # A limit rejects: a RST in the responder's own name says nothing listens there.
        passed = None if conn.resp_rst else passed_before(ctx, conn)
        ctx.add("callback_refused",
                f"{_REFUSED}to the job engine was refused: {refusal_causes(ctx, conn)}."
                f"{outside[0] if outside else ''}{refusal_notes(ctx, [conn])}"
                f"{limit_words(ctx, conn, passed) if passed is not None else ''}",
                refused_limit_fix(ctx, conn, passed, fix) if passed is not None else fix,
                session=session, conn=conn, cause="callback", allows=refusal_allows(conn),
                subject=len(_REFUSED), hedges=own_stack_hedges(conn))
    elif outcome == "handshake_incomplete":
        handshake_incomplete(ctx, session, conn, "callback", "callback")
    check_ports(ctx, session, conn, "callback")


def _ndmp_service(ctx: Context) -> str:
    """The agent's NDMP server in the profile's words: Backup Exec's Remote Agent
    service, else the NDMP service (ndmjob's ndmpd, a filer's NDMP daemon)."""
    return "the Remote Agent service" if ctx.profile.backup_exec else "the NDMP service"
