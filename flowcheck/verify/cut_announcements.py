"""Announcements the snap length cut (or whose address type flowcheck cannot read): how
their data connections were matched, and announced_not_used for one no connection
followed (split from flowcheck.verify.data_links, its size)."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, connection_ends
from flowcheck.ndmp.listeners import listener_of
from flowcheck.verify.attempts import connector_unseen
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.connect_said import port_only_words
from flowcheck.verify.context import Context
from flowcheck.verify.cut_unjudged import cut_unjudged
from flowcheck.verify.evidence import ended_early
from flowcheck.verify.filtered import moved_unseen, port_only_reading
from flowcheck.verify.profile_followed import OTHER_PRODUCT_FIX
from flowcheck.verify.retry_wait import seen_after_wait
from flowcheck.verify.stream_evidence import announcement_time_enough, message_ts


def _callback_after(ctx: Context, session: Session, name: str,
                    frame: int) -> Connection | None:
    """The session's callback when it opened after a cut announcement that has the agent
    connect to the mover (DATA_CONNECT, a MOVER_LISTEN reply), under a profile whose
    media server connects: plain NDMP's data connection, read as Backup Exec's callback
    (session 34's trial B: ndmjob with -s 96 under the default profile)."""
    if ctx.profile.connector != "media_server" or listener_of(name) != "mover":
        return None
    conn = ctx.by_uid.get(session.callback_uid or "")
    if conn is None or conn.first_frame < frame or conn.orig_h != session.remote_agent:
        return None
    return conn


def check_cut_announcements(ctx: Context, session: Session) -> None:
    """Announcements the snap length cut (or whose address type flowcheck cannot read):
    the decode finding says how their data connections were matched, and one that no
    connection followed is still reported."""
    if not session.match_reason:
        return
    stream = ctx.stream_by_uid.get(session.control_uid)
    finding = stream.snap_finding if stream else None
    tls = stream.tls_start if stream else None
    # A connection opened after the control connection went on in TLS had its
    # announcement inside the TLS, which no snap length shows: ndmp_undecodable says how
    # it was matched (lab matrix seed 110 run 19, TLS from the first byte under -s 128).
    conns = [c for c in (ctx.by_uid[uid] for uid in session.port_matched)
             if tls is None or c.first_frame < tls]
    if finding is not None and conns:
        listed = ", ".join(f"{c.uid} ({connection_ends(c)})" for c in conns)
        note = (f" Because the announcement of the data endpoint was cut, session "
                f"{session.id}'s data connection(s) {listed} were matched by direction and "
                f"ports ({ctx.profile.name} profile) instead of by the announced address.")
        if note not in finding.message:
            finding.message += note
    for frame, name, uid in session.cut_announcements:
        if uid:
            continue
        ts = message_ts(ctx, session, frame)
        if (connector_unseen(ctx, session, listener_of(name))
                or moved_unseen(ctx, session, ts, frame)
                or cut_unjudged(ctx, session, ts, name, frame)):
            # As above: the connector's direction or the connection not captured, or
            # one the capture holds that may be it (trial 20 D3): step unknown.
            continue
        if not announcement_time_enough(ctx, session, ts, frame):
            ended_early(ctx, session, f"{name.removeprefix('NDMP_')} ({frame_text(frame)}) "
                        "announced a data endpoint", ts, [frame],
                        waits=seen_after_wait(ctx.config, "the connection to it"),
                        frame=frame)
            continue
        port_only = port_only_reading(ctx, session, "a connection to it was tried",
                                      cut=(frame, ts))
        if port_only.unseen:
            continue  # the capture holds the NDMP port only: an attempt could not show
        op = name.removeprefix("NDMP_")
        unread = ("an address type flowcheck cannot read"
                  if session.match_reason == "address_type" else
                  "its address was cut by the capture's snap length")
        taken = _callback_after(ctx, session, name, frame)
        # A connection read as the callback is the agent's, after the announcement, and
        # in the capture: no port filter left it out, so the fix asks for no capture
        # without one (the message never said one did).
        said = port_only.failed if taken is None else None
        filtered, refilter = (port_only_words(ctx, session, said, frame) if said
                              else ("", ""))
        if taken is None:
            head = (f"{op} ({frame_text(frame)}) announced a data endpoint ({unread})"
                    + (f"{filtered}no" if said else ", but no")
                    + f" connection between {session.media_server} and "
                    f"{session.remote_agent} followed")
        else:
            head = (f"{op} ({frame_text(frame)}) announced a data endpoint ({unread}), and a "
                    f"connection between {session.media_server} and "
                    f"{session.remote_agent} after it was read as the callback (step 2): "
                    f"{taken.uid} {connection_ends(taken)} "
                    f"({taken.orig_bytes + taken.resp_bytes:,} B). {op} has the agent "
                    f"connect to the mover, so in plain NDMP {taken.uid} is this data "
                    f"connection; in the {ctx.profile.name} sequence none reached the "
                    "endpoint")
        ports = (f"heck that the ports of {ctx.ranges('media')} and {ctx.ranges('agent')} "
                 "are free on both hosts"
                 + ("" if session.match_reason == "address_type" else
                    "; capture with tcpdump -s 0 to see the endpoint"))
        tried = ("a capture on the connecting side shows SYNs to it, allow them on every "
                 "firewall or NAT between the hosts; if it shows none, allow them in the "
                 "connecting side's own outbound rules (they act before its packet tap)")
        # On the listener's side (its TTLs or cooked marks), SYNs lost on the way are the
        # common cause, as data_links leads with for an address it could read (newuser58:
        # lab-trial26-words/data-drop-agent under -s 96 led with "check the ports").
        fix = (f"If {tried}, and c{ports}" if _on_listener(ctx, session, name) else
               f"C{ports}. If {tried}")
        ctx.add("announced_not_used",
                f"{head}: the side "
                "that should connect could not (for example it could not bind a port "
                "because the port was in use on its side), or its SYNs were dropped "
                "before they reached the capture point: seen from the listener's side, a "
                "firewall or NAT between the hosts that drops the connection looks the "
                "same (a capture on the connecting side shows which).",
                fix + (OTHER_PRODUCT_FIX if taken is not None else "") + "." + refilter,
                session=session, frames=[frame], ts=ts, cause="data",
                other_profile="fix" if taken is not None else "")


def _on_listener(ctx: Context, session: Session, name: str) -> bool:
    """Do the TTLs or the Linux cooked marks show the capture taken on the side of the
    cut announcement's listener (verify.capture_host.proven_host)? The mover listens on
    the media server, the data service on the agent."""
    listener, connector = ((session.media_server, session.remote_agent)
                           if listener_of(name) == "mover" else
                           (session.remote_agent, session.media_server))
    found = proven_host(ctx, listener, connector) if listener and connector else None
    return found is not None and found.host == listener
