"""Steps 3-4 of a session (flow-model.md): the data endpoint announced on the control
connection and the data connection to it (one opened by the wrong side:
flowcheck.verify.wrong_way). Step 5 (the data flowing) is flowcheck.verify.data_flow's."""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Said, Session, Step, cites_of, other_direction
from flowcheck.ndmp.listeners import listener_of
from flowcheck.profiles import StepSpec
from flowcheck.sessions import (
    DATA_INTENT,
    addressless_replies,
    announcement_groups,
    is_local_group,
    message_op,
)
from flowcheck.verify.after_close import (
    closed_words,
    dropped_detail,
    gone_before,
    late_words,
    tried_in_time,
)
from flowcheck.verify.attempts import (
    attempt_unseen,
    one_way_words,
    unanswered_seen,
)
from flowcheck.verify.context import Context, endpoint, opening_frames
from flowcheck.verify.cut_unjudged import cut_unjudged
from flowcheck.verify.details import (
    announcement_detail,
    data_connection_detail,
    port_words,
)
from flowcheck.verify.end_roles import conn_sides
from flowcheck.verify.evidence import after, ended_early, is_open, judged, unseen_why
from flowcheck.verify.filtered import port_only_unseen
from flowcheck.verify.listen_unanswered import (
    acked_words,
    closed_instead,
    closed_listen_words,
    never_answered,
    reply_unread,
    sole_listen_unanswered,
)
from flowcheck.verify.local import (
    failed_local,
    failed_words,
    local_connection_step,
    local_words,
    only_local,
)
from flowcheck.verify.lost_announcement import address_unseen_step
from flowcheck.verify.range_stops import listen_stop, stop_lead, stop_words
from flowcheck.verify.ranges import UNREAD_WHY, unread_ports
from flowcheck.verify.refused_connect import group_refusal
from flowcheck.verify.refused_listens import (
    LISTENS,
    refused_listens,
    refused_words,
    resource_words,
)
from flowcheck.verify.retry_wait import seen_after_wait
from flowcheck.verify.session_words import opened_unseen_words
from flowcheck.verify.step_base import make_step, ports_in_range, previous_step, report_missing
from flowcheck.verify.stream_evidence import message_ts, pending_request, stream_hidden
from flowcheck.verify.unanswered_close import unanswered_close_words
from flowcheck.verify.unresent import failed_opening_words
from flowcheck.verify.unseen_resources import unseen_resources_words
from flowcheck.verify.wrong_way import report_wrong_way

# The messages an NDMP session starts with (the agent's greeting, the DMA's CONNECT_OPEN
# and its reply), before any announcement.
_SESSION_OPENING = frozenset({"NOTIFY_CONNECTED", "CONNECT_OPEN"})


def announcement_step(ctx: Context, session: Session, spec: StepSpec,
                      control: Connection) -> Step:
    """Step 3: the data endpoint announced on the control connection (DATA_LISTEN,
    MOVER_LISTEN replies, or a connection matched without one)."""
    pending = pending_request(ctx, session, LISTENS)
    if pending is not None:
        # Its reply would announce (or refuse) the next endpoint: the resource it
        # starts cannot be judged, whatever earlier resources showed.
        op = message_op(pending)
        reply_way = (control.host(other_direction(pending.direction)),
                     control.host(pending.direction))
        if ctx.lacks(reply_way, control.ts):
            why = one_way_words(ctx, reply_way, "its reply", control.ts)
        else:
            ended_early(ctx, session, f"the {op} request ({frame_text(pending.frame)})",
                        pending.ts, [pending.frame], conn=control,
                        waits=seen_after_wait(ctx.config, "its reply"),
                        frame=pending.frame)
            why = ("the capture ended "
                   f"{span_words(after(ctx, pending.ts, pending.frame))} after it, "
                   "before its reply")
        return make_step(spec, "unknown", [control.uid], [pending.frame],
                         f"unknown: the {op} request ({frame_text(pending.frame)}) got no reply "
                         f"in the "
                         f"capture: {why}")
    unanswered = never_answered(ctx, session, control)
    if unanswered is not None:
        op = message_op(unanswered)
        peer = control.host(other_direction(unanswered.direction))
        # The job's next port had none left in the range (verify.range_stops).
        stop = listen_stop(ctx, session, peer, f"the {op} request ({frame_text(unanswered.frame)})",
                           unanswered.ts, unanswered.frame)
        # With a stop, its lead ends the first clause the verdict's "cause:" keeps.
        lead = f", {stop_lead(ctx, stop)}; the" if stop is not None else ", although the"
        why = (f"the {op} request ({frame_text(unanswered.frame)}) was never answered by {peer}"
               f"{lead} control connection went on after it (later messages, or its close)")
        fix = (f"See the log of the NDMP service on {peer} at that time: it received the "
               "request but never answered it (hung, or it could not bind a port in its "
               "range and did not report it).")
        stream = ctx.stream_by_uid[session.control_uid]
        acked = acked_words(ctx, control, stream, unanswered)
        fin = None if acked else closed_instead(stream, unanswered)
        if fin is not None:
            acked = closed_listen_words(peer, unanswered, fin)
        said = []  # the parts of why that may cite codes
        if acked:
            why, fix = f"{why}: {acked[0]}", acked[1]
            said.append(acked[0])
        if stop is not None:
            said.append(stop_words(ctx, stop))
            why = f"{why}; {said[-1]}"
        finding = report_missing(ctx, session, spec, why, fix=fix,
                                 frames=[unanswered.frame], ts=unanswered.ts)
        if stop is not None:
            stop.finding = finding
        elif acked and peer in (session.remote_agent, session.media_server):
            ctx.closed_listens.append(
                (finding, "agent" if peer == session.remote_agent else "media"))
        return make_step(spec, "missing", [control.uid], [unanswered.frame], why,
                         cites=cites_of(*said))
    unread = reply_unread(ctx, session, control)
    if unread is not None:
        request, frame = unread
        op = message_op(request)
        peer = control.host(other_direction(request.direction))
        return make_step(spec, "unknown", [control.uid], [request.frame, frame],
                         f"unknown: the {op} request ({frame_text(request.frame)}) has no reply "
                         f"among the messages the capture could read, and the snap length "
                         f"cut the header of a record {peer} sent after it ({frame_text(frame)}): "
                         "that may be its reply, so whether that resource's data endpoint "
                         "was announced, or refused, cannot be seen (capture with tcpdump "
                         f"-s 0, or see the NDMP log of {peer})")
    addressless = addressless_replies(ctx.stream_by_uid.get(session.control_uid))
    if addressless:
        # On the wire too short for an address, yet no header error: the listen most
        # likely failed, with its body error in the bytes the snap length cut.
        said = ", ".join(f"{message_op(m)} ({frame_text(m.frame)}, {m.body_len:,} bytes)"
                         for m in addressless)
        return make_step(spec, "unknown", [control.uid], [m.frame for m in addressless],
                         f"unknown: the reply to {said} is too short on the wire to carry a "
                         "TCP address: most likely an error reply whose error code the "
                         "capture's snap length cut, so whether that resource's data "
                         "endpoint was announced cannot be seen (capture with tcpdump -s 0, "
                         "or see the NDMP log of the host that answered)")
    if session.announced:
        detail = announcement_detail(ctx, session)
        cites = cites_of(detail)
        if any(item.endpoint for item in session.local_data):
            detail += f"; {local_words(session.local_data, which=False)}"
        elif session.local_data:  # NDMP_ADDR_LOCAL besides the TCP announcements
            detail += f"; {local_words(session.local_data)}"
        refused = refused_listens(ctx, session)
        if refused:  # some resources' listen refused, the others announced (trial 20 D2)
            words = refused_words(ctx, session, refused)
            return make_step(spec, "failed", [control.uid],
                             [a.frame for a in session.announced] + [m.frame for m in refused],
                             f"{words}; {detail}", cites=(*cites_of(words), *cites))
        closed = unanswered_close_words(ctx, session, control)
        if closed:  # the agent closed on a request the capture does not hold
            return make_step(spec, "unknown", [control.uid],
                             [a.frame for a in session.announced], f"unknown: {closed}; {detail}",
                             cites=(*cites_of(closed), *cites))
        return make_step(spec, "ok", [control.uid], [a.frame for a in session.announced],
                         detail, cites=cites)
    if session.local_data:  # NDMP_ADDR_LOCAL only: an announcement with no TCP address
        return make_step(spec, "ok", [control.uid], [i.frame for i in session.local_data],
                         local_words(session.local_data))
    if session.match_reason or session.cut_announcements:
        return address_unseen_step(ctx, session, spec, control)
    stream = ctx.stream_by_uid.get(session.control_uid)
    refused = [m for m in (stream.messages if stream else [])
               if m.type == "reply" and m.error and message_op(m) in DATA_INTENT]
    gone = gone_before(ctx, session) if refused else None
    if gone is not None and gone.frame > refused[0].frame:
        # The job had ended before the capture: the refusal is a closed job's late answer
        # (ndmp_error_reply warns of it), nothing this capture can judge.
        return make_step(spec, "unknown", [control.uid], [m.frame for m in refused],
                         f"unknown: the job had ended: "
                         f"{closed_words(session, gone, before_capture=True)}")
    if refused:
        first = refused[0]
        return make_step(spec, "failed", [control.uid], [m.frame for m in refused],
                         f"{message_op(first)} answered {first.error_name.removeprefix('NDMP_')}: "
                         "no data endpoint was announced")
    hidden = stream_hidden(ctx, session, stream)
    if hidden or stream is None:
        why = hidden or "no NDMP message of the control connection was decoded"
        return make_step(spec, "unknown", [control.uid],
                         detail=f"unknown: no announcement in the capture, but {why}",
                         cites=cites_of(why))
    late = _started_late(ctx, session, control)
    if late:
        return make_step(spec, "unknown", [control.uid], detail=f"unknown: {late}",
                         cites=cites_of(late))
    report_missing(ctx, session, spec,
                   f"the session starts a {session.kind_words(short=True)} but no data "
                   "endpoint was announced on its control connection", conn=control)
    return make_step(spec, "missing", [control.uid], detail="no endpoint announced")


def _started_late(ctx: Context, session: Session, control: Connection) -> str:
    """Why the capture may lack the announcement of a session whose control connection
    opened before its first captured packet ("" when the capture holds the session's
    start all the same: its control stream begins with the greeting or CONNECT_OPEN,
    which come before any announcement)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if judged(ctx, control) != "midstream" or stream is None or not stream.messages:
        return ""
    first = stream.messages[0]
    if message_op(first) in _SESSION_OPENING:
        return ""
    opened = opened_unseen_words(session)
    return Said(f"no announcement in the capture, but the control connection opened {opened} "
                "and the first NDMP message the capture holds of it is the "
                f"{message_op(first)} {first.type} ({frame_text(first.frame)}): the "
                "announcement may have come before it (start the capture before the job "
                "starts)", cites_of(opened))


FAILED_NAMED = 4  # failed data connections step 4's detail names, at most


def data_connection_step(ctx: Context, session: Session, spec: StepSpec,
                         control: Connection) -> Step:
    """Step 4: the data connection(s) to the announced endpoint(s)."""
    conns = [ctx.by_uid[uid] for uid in session.data_connections]
    frames = [f for c in conns for f in opening_frames(c)]
    uids = [c.uid for c in conns]
    announcement = previous_step(session, ctx, "announcement")
    if not conns and announcement is not None and announcement.status == "unknown":
        return make_step(spec, "unknown", detail="unknown: the announcement (step "
                         f"{announcement.step}) cannot be seen, so neither can its connection")
    if not conns and only_local(session):
        return local_connection_step(session, spec, uids)
    if not session.announced and not session.match_reason or (
            not conns and sole_listen_unanswered(ctx, session, announcement)):
        return make_step(spec, "missing", detail="nothing was announced, so nothing to connect to")
    outcomes = {c.uid: judged(ctx, c) for c in conns}
    # A connection its originator reset after the SYN-ACK reached the endpoint: its
    # failure is step 5's (no data flowed), not this step's.
    # One that came only after the job ended is not the job's ("late"): below.
    failed = [c for c in conns if not is_open(outcomes[c.uid])
              and outcomes[c.uid] not in ("unknown", "aborted", "late")]
    if failed:
        # Each failed connection's words (field check 36c: two data connections dropped,
        # the detail named the first only), the first few.
        failures = [dropped_detail(ctx, c) or failed_opening_words(ctx, c)
                    for c in failed[:FAILED_NAMED]]
        said = [f"{endpoint(c.resp_h, c.resp_p)}: {w}"
                for c, w in zip(failed[:FAILED_NAMED], failures, strict=True)]
        more = len(failed) - len(said)
        return make_step(spec, "failed", uids, frames,
                         "; ".join(said) + (f"; and {more} more" if more > 0 else ""),
                         cites=cites_of(*failures))
    unknown = [c for c in conns if outcomes[c.uid] == "unknown"]
    if unknown:
        why = unseen_why(ctx, unknown[0])
        return make_step(spec, "unknown", uids, frames,
                         f"unknown: {endpoint(unknown[0].resp_h, unknown[0].resp_p)}: {why}",
                         cites=cites_of(why))
    local_failed = failed_local(session)
    if local_failed:
        return make_step(spec, "failed", uids, frames + [i.frame for i in local_failed],
                         failed_words(local_failed))
    # A host-local endpoint's connection never reaches the network (sessions.local).
    unused = [g for g in announcement_groups(session.announced)
              if not tried_in_time(ctx, g) and not is_local_group(session, g)]
    refusals = [found for g in unused if (found := group_refusal(ctx, g))]
    if refusals and len(refusals) == len(unused):
        # Refused before any connect: no connection was due (ndmp_error_reply).
        carried, request, reply = refusals[0]
        where = ("" if carried.control_uid == session.control_uid else
                 f" on the control connection {carried.control_uid}")
        return make_step(spec, "failed", [control.uid], [reply.frame],
                         f"{message_op(request)} ({frame_text(request.frame)}{where}) was answered "
                         f"{reply.error_name.removeprefix('NDMP_')} ({frame_text(reply.frame)}): "
                         f"refused before any connection to {endpoint(carried.ip, carried.port)}")
    # What no connection followed (cut ones too) needs a capture that could show one.
    unfollowed = [(f"{g[0].message.removeprefix('NDMP_')} ({frame_text(g[0].frame)}) announced "
                   f"{endpoint(g[0].ip, g[0].port)}",
                   attempt_unseen(ctx, session, g[0].listener, [a.ip for a in g], g[0].ts,
                                  g, g[0].frame))
                  for g in unused]
    unfollowed += [(f"{name.removeprefix('NDMP_')} ({frame_text(frame)}) announced a data "
                    "endpoint (its address cut by the snap length)",
                    attempt_unseen(ctx, session, listener_of(name), [],
                                   message_ts(ctx, session, frame), frame=frame)
                    or cut_unjudged(ctx, session, message_ts(ctx, session, frame), name,
                                    frame)
                    or port_only_unseen(ctx, session, "a connection to it was tried",
                                        cut=(frame, message_ts(ctx, session, frame))))
                   for frame, name, uid in session.cut_announcements if not uid]
    if unfollowed and all(why for _, why in unfollowed):
        what, why = unfollowed[0]
        return make_step(spec, "unknown", uids, frames, f"unknown: {what}, but {why}",
                         cites=cites_of(why))
    late = [c for c in conns if outcomes[c.uid] == "late"]
    if late and not unused and gone_before(ctx, session) is not None:
        # The job had ended before the capture: its connection cannot be judged.
        words = late_words(ctx, late[0])
        return make_step(spec, "unknown", uids, frames, f"unknown: the job had ended: {words}",
                         cites=cites_of(words))
    seen = [words for g in unused if (words := unanswered_seen(ctx, session, g))]
    if unused and len(seen) == len(unused) and not late:
        # One direction: no answer seen, not "no connection" (announced_not_used).
        return make_step(spec, "missing", uids, frames, "; ".join(seen),
                         cites=cites_of(*seen))
    if not conns or unused or late:
        # The connector's range full as the endpoint came (verify.range_stops.connect_stop).
        stop = next((s for s in ctx.range_stops if s.session == session.id and s.step == 4),
                    None)
        return make_step(spec, "missing", uids, frames,
                         "an announced endpoint got no connection" + (
                             f" while the job ran: {late_words(ctx, late[0])}" if late else
                             f", {stop_lead(ctx, stop)}" if stop is not None else ""))
    wrong_way = [c for c in conns if not _expected_connector(ctx, session, c)]
    if wrong_way:
        expected = "media server" if ctx.profile.connector == "media_server" else "agent"
        openers = report_wrong_way(ctx, session, spec, wrong_way, expected)
        step = make_step(spec, "violated", uids, frames,
                         f"opened by {openers}, expected the {expected}")
        step.wrong_way = True
        return step
    ports = [port_words(ctx, session, c) for c in conns]
    if not all(ports_in_range(ctx, session, c) for c in conns):
        return make_step(spec, "violated", uids, frames, "port outside the configured range: " +
                         "; ".join(ports), cites=cites_of(*ports))
    if any(unread_ports(ctx, session, c) for c in conns):
        return make_step(spec, "unknown", uids, frames, f"unknown: {UNREAD_WHY}: " +
                         "; ".join(ports), cites=cites_of(*ports))
    detail = data_connection_detail(ctx, session, conns, ports)
    cites = cites_of(detail, *ports)
    detail += resource_words(ctx, len(conns), "data connections for")
    if session.local_data:
        detail += f"; {local_words(session.local_data)}"
    unseen = unseen_resources_words(ctx, session, len(conns))
    if unseen:  # the other resources' connections may come after the capture's end
        return make_step(spec, "unknown", uids, frames, f"unknown: {unseen}; {detail}",
                         cites=(*cites_of(unseen), *cites))
    return make_step(spec, "ok", uids, frames, detail, cites=cites)


def _expected_connector(ctx: Context, session: Session, conn: Connection) -> bool:
    if judged(ctx, conn) == "midstream":
        # Open before the capture: who opened it is not in the capture (its originator
        # is only its first captured packet's sender; trial 20 D3).
        return True
    media, agent = conn_sides(conn, session)
    connector = (conn.orig_h, conn.orig_p)
    if ctx.profile.connector == "media_server":
        return media == connector
    if ctx.profile.connector == "remote_agent":
        return agent == connector
    return True  # "listener": reaching the announced endpoint is the direction
