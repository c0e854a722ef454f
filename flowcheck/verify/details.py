"""The `detail` of a step that is ok: what was checked and what the capture showed.

The step table already names the connection; the detail says what was seen on it (the
handshake time, bytes each way, the announcing message, each port and the range it fell
in), never a copy of another column. Step 5's words for the job's bytes each way are
flowcheck.verify.bytes_each_way's.
"""

from __future__ import annotations

from flowcheck.connections.conn import EVIDENCE_CAP
from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import (
    Connection,
    Direction,
    Said,
    Session,
    cites_of,
    connection_ends,
    endpoint,
)
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.sessions import (
    closed_before_data,
    closing,
    connection_outcome,
    quoted_syn_refused,
    unseen_syn_refused,
)
from flowcheck.sessions.local import other_version
from flowcheck.sessions.syn_proxy import proxied
from flowcheck.sessions.unheard_ack import handshake_unheard
from flowcheck.sessions.unseen import acked_words
from flowcheck.verify.ack_unheard import unheard_detail
from flowcheck.verify.announced_kind import (
    listener_end,
    other_version_words,
    special,
    special_words,
)
from flowcheck.verify.context import Context
from flowcheck.verify.cut_icmp import unanswered_tail
from flowcheck.verify.end_roles import conn_sides
from flowcheck.verify.own_unreachable import own_stack_refused
from flowcheck.verify.ranges import (
    checked_ends,
    host_local,
    local_ports_words,
    media_seen_elsewhere,
    translated_end,
    unread_end,
)
from flowcheck.verify.refusals import refusal_how
from flowcheck.verify.rst_words import cited_rsts
from flowcheck.verify.sacked_unseen import sacked_detail, sacked_of
from flowcheck.verify.shared import agent_kind, other_agent, three_way_hosts
from flowcheck.verify.synack_unreachable import synack_how, synack_unreachable

# Seconds: no TCP resends a SYN sooner (RFC 6298 2.1's initial timeout is 1 s, Linux's
# 1 s, Windows' 3 s; 0.2 s is Linux's least retransmission timeout of any segment).
SYN_RESEND_FLOOR = 0.2


def syn_count(conn: Connection) -> int:
    """SYNs the originator sent: its SYN frames, or its retries + 1 where the frame list
    stopped at its cap (EVIDENCE_CAP)."""
    return max(len(conn.syn_frames), conn.syn_retries + 1)


def counted(frames: list[int], noun: str) -> str:
    """"1 SYN-ACK", "3 SYN-ACKs", or "8 or more SYN-ACKs" for an evidence list at its
    cap (Connection's frame lists keep the first EVIDENCE_CAP)."""
    if len(frames) >= EVIDENCE_CAP:
        return f"{EVIDENCE_CAP} or more {noun}s"
    return f"{len(frames)} {noun}{'' if len(frames) == 1 else 's'}"


def handshake_words(conn: Connection) -> str:
    """"handshake 0.42 ms" (the last SYN to the ACK of the SYN-ACK, as the JSON's rtt;
    span_words: 3 significant digits without trailing zeros, "0.041 ms", "1.2 ms",
    "3.12 s": newuser54 read "0.0410 ms" as a wrong digit; trial 20 D17's "3.12e+03 ms"
    stays gone), and after SYNs sent again how many and how late the first SYN-ACK came
    after the first SYN ("handshake 0.088 ms after 1 resent SYN, answered 1 s after the
    first": trial 33 D4, a connection that opened a SYN timeout late); or why there is
    none. A clock set back during the handshake makes its time unknown, never negative."""
    if conn.rtt is not None and conn.rtt < 0:
        return "handshake time unknown (the capture's clock was set back during it)"
    if conn.rtt is not None:
        return f"handshake {span_words(conn.rtt)}{_resent_words(conn)}"
    if connection_outcome(conn) == "aborted":
        answered = ""
        if conn.syn_ts is not None and conn.synack_ts is not None:
            first = " first" if conn.syn_retries else ""
            answered = (f" {span_words(max(0.0, conn.synack_ts - conn.syn_ts))} after the"
                        f"{first} SYN")
        return (f"SYN-ACK{answered}, then reset by {conn.orig_h} ("
                f"{frame_text(conn.rst_frames[0])}) before the handshake completed")
    if not conn.syn_seen and not conn.synack_seen:
        return "handshake not in the capture"
    return "handshake not fully captured"


def _resent_words(conn: Connection) -> str:
    """" after 2 resent SYNs, answered 3.01 s after the first" for a completed handshake
    whose SYN was sent again (the first SYN-ACK's time from the first SYN: span_words),
    "" when it was not. A first SYN-ACK sooner after the first SYN captured than any TCP
    resends a SYN (SYN_RESEND_FLOOR) does not show the first try answered that soon:
    that SYN-ACK was lost on its way (the connector resent), or the tries were held on
    the way and passed the capture point together, the first sent a timeout or more
    before it was captured. Field check 63 run 13 (a router's neighbour resolution held
    the control SYN, its resend 1 s later by their TSvals, both captured on the agent
    within 0.03 ms) read "answered 0.0238 ms after the first": the words say what the
    capture shows, both readings, and where the answer is (the SYN-ACK's TSecr echoes
    the TSval of the try it answers, RFC 7323 4.3), which the record does not keep; one
    reading alone when the frames rule the other out (_early_answer_words)."""
    if not conn.syn_retries:
        return ""
    plural = "s" if conn.syn_retries > 1 else ""
    words = f" after {conn.syn_retries} resent SYN{plural}"
    if conn.syn_ts is None or conn.synack_ts is None:
        return words
    answer = conn.synack_ts - conn.syn_ts
    if 0 <= answer < SYN_RESEND_FLOOR:
        return (f"{words}, the first SYN-ACK {span_words(answer)} after the first SYN "
                f"captured, sooner than TCP resends one: {_early_answer_words(conn)}")
    return f"{words}, answered {span_words(answer)} after the first"


def _early_answer_words(conn: Connection) -> str:
    """What a first SYN-ACK captured sooner than TCP resends a SYN means (_resent_words):
    both readings, or "lost on its way" alone when the responder's SYN-ACK resent by its
    own timer (a second SYN-ACK before the SYN's resend in the capture's frames: no
    SYN the capture holds asked for it) passed the capture point before the connector's
    resend did, so the tries were a timeout apart there, not captured together (review58c:
    trial37-impairments/data-acks-lost-agent.pcap, the agent's capture of a media
    server whose SYN-ACKs the router lost, its resend 2.03 s after the first SYN, read
    "or the tries were held on the way ... and captured together")."""
    resend = conn.syn_frames[1] if len(conn.syn_frames) > 1 else None
    again = next((frame for frame in conn.synack_frames[1:]
                  if resend is not None and frame < resend), None)
    if again is not None:
        return (f"that SYN-ACK was lost on its way ({conn.resp_h} resent it, {frame_text(again)}, "
                f"before the resent SYN, {frame_text(resend)}, was captured: the tries passed the "
                "capture point a timeout apart)")
    return ("that SYN-ACK was lost on its way, or the tries were held on the way (a "
            "router's neighbour queue) and captured together (the SYN-ACK's TSecr names "
            "the try it answers)")


def bytes_words(conn: Connection, session: Session) -> str:
    """Payload bytes each way, named by role: "700 B agent -> media server, ...", each
    byte the capture holds counted once (capture copies left out, as
    bytes_each_way.sent_each_way does, and resends: Connection.unique_sent), the bytes
    sent again said apart as step 5 says them ("60 B agent -> media server (each byte
    once: 480 B more sent again, 540 B of TCP payload with them)"); for a side the
    capture holds no segment of, the bytes its peer's ACKs acknowledge instead ("agent ->
    media server not captured (980 B of it acknowledged, and its FIN)":
    sessions.unseen.acked_words), or its FIN's when the capture holds its direction
    elsewhere (sessions.held_elsewhere)."""
    media, _ = conn_sides(conn, session)
    media_is_orig = media == (conn.orig_h, conn.orig_p)
    words = []
    for is_orig, way in ((media_is_orig, "media server -> agent"),
                         (not media_is_orig, "agent -> media server")):
        side: Direction = "orig" if is_orig else "resp"
        sent = conn.sent_once(side)
        once = conn.unique_sent(side)
        again = (f" (each byte once: {sent - once:,} B more sent again, {sent:,} B of TCP "
                 "payload with them)" if sent > once else "")
        unseen = f"{way} not captured ({acked_words(conn, side)})" if (
            conn.orig_acked_unseen if is_orig else conn.resp_acked_unseen) else ""
        words.append(f"0 B {way} (its FIN not captured, acknowledged)"
                     if unseen and not sent and conn.side_held_elsewhere
                     else unseen if unseen and not sent else f"{once:,} B {way}{again}")
    return ", ".join(words)


def connection_detail(ctx: Context, conn: Connection, session: Session, ports: str) -> str:
    """Control or callback step: ports checked, handshake, bytes each way."""
    parts = [p for p in (ports, handshake_words(conn), bytes_words(conn, session)) if p]
    return "; ".join(parts)


def announcement_detail(ctx: Context, session: Session) -> str:
    """Each announcing message: name, frame, direction and the endpoint it carried, its
    listener named by role: "the agent", "the media server (mover)" (the DMA's own), or
    by its host when that is another NDMP server: a three-way job's ("the mover on
    10.77.1.3 (tape agent)": flowcheck.verify.shared.three_way_hosts), a LISTEN reply's
    mover on the agent that sent it, a host-local one's (flowcheck.sessions.local)."""
    local = {item.endpoint: item.host for item in session.local_data if item.endpoint}
    control = ctx.by_uid[session.control_uid]
    words = []
    for ann in session.announced:
        service = "data service" if ann.listener == "data" else "mover"
        who = "agent" if ann.listener == "data" else "media server (mover)"
        found = three_way_hosts(ctx, session, ann)
        host = local.get((ann.ip, ann.port))
        if host is not None:
            who = f"{service} on {host}"
        elif found is not None and found[0] != found[1]:
            agent = "tape agent" if ann.listener == "mover" else "data agent"
            who = f"{service} on {found[1]} ({agent})"
        elif (other := other_agent(ctx, session, ann)) is not None:
            who = f"{service} on {other} ({agent_kind(ann)})"  # its half off the capture
        elif (ann.message, False) in ANNOUNCERS and ann.listener == "mover" and \
                ann.ip not in (control.orig_h, control.resp_h) and special(ann.ip) is None \
                and ctx.host_role(ann.ip) is None:
            # Neither the DMA's address nor a known host: its own mover on another
            # interface, or a three-way job's tape agent (trial 27 D8).
            who = (f"mover on {ann.ip} (not the media server's {control.orig_h}: its other "
                   "interface, or the tape agent of a three-way job)")
        elif ann.listener == "mover" and (ann.message, True) in ANNOUNCERS and \
                control.resp_h != control.orig_h:
            who = f"mover on {control.resp_h} (tape agent)"  # the agent's own tape
        words.append(f"{ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)}) announced "
                     f"{endpoint(ann.ip, ann.port)}{special_words(ann.ip)}, the {who} "
                     "listening")
    return "; ".join(words)


def data_connection_detail(ctx: Context, session: Session, conns: list[Connection],
                           ports: list[str]) -> Said:
    """Per data connection: the announcement it reached, its ports and ranges, handshake
    (the codes the ports' words cite are the caller's: verify.data_steps)."""
    words, cites = [], []
    for conn, port_words in zip(conns, ports, strict=True):
        ann = next((a for a in session.announced if a.used_by == conn.uid), None)
        translated = dict(session.address_matched).get(conn.uid)
        if ann is not None and translated:
            reached = (f"reached port {ann.port} announced in "
                       f"{ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)}) under "
                       f"{listener_end(ann, conn)}, not the announced {translated} (NAT)")
        elif ann is not None and other_version(ann.ip, listener_end(ann, conn)):
            reached = f"reached port {ann.port} {other_version_words(ann, conn)}"
        elif ann is not None:
            reached = f"reached {ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)})'s " \
                      "endpoint"
        elif conn.uid in session.port_named:
            frame, name = session.port_named[conn.uid]
            reached = (f"matched by direction and ports, to the endpoint the "
                       f"{name.removeprefix('NDMP_')} reply of {frame_text(frame)} names")
        elif conn.uid in session.port_matched and connection_outcome(conn) == "midstream":
            # Its originator is only its first captured packet's sender (trial 20 D3).
            reached = ("matched by ports (its opening is not in the capture, so which end "
                       "opened it cannot be seen)")
        elif conn.uid in session.port_matched:
            reached = "matched by direction and ports"
        else:
            reached = "reached an announced endpoint"
        opening = handshake_words(conn)
        if ann is not None and connection_outcome(conn) == "midstream":
            # Reached after its announcement, which the capture holds: it opened while
            # the capture ran, and the sniffer missed its handshake (trial 25 D1).
            # Perhaps not when that time lies between two files no file covers
            # (review56e), unless they are one sniffer's rotated files (review56j).
            # A ring's hole first: its file is gone, no pause of the sniffer in doubt.
            hole = next((g for g in ctx.ring_gaps if g.start < conn.ts and g.end > ann.ts),
                        None)
            gap = next((g for g in ctx.file_gaps if g.start < conn.ts and g.end > ann.ts),
                       None)
            cites += cites_of(hole.words()) if hole else []
            opening = (f"its handshake is not in the capture although it opened after "
                       f"{frame_text(ann.frame)}: "
                       + (f"it may have gone in {hole.words()}" if hole else
                          f"it may have gone in {gap.words()}; if the files are one "
                          "sniffer's, rotated without a pause, the sniffer missed it"
                          if gap else "the sniffer missed it"))
        words.append(f"{conn.uid} {reached}: {port_words}; {opening}")
    return Said("; ".join(words), cites)


def port_words(ctx: Context, session: Session, conn: Connection) -> Said | str:
    """"media port 5002 in 5001-5100, agent port 6001 in 6001-6100" for one connection; a
    port outside its range on a translated address (translated_host) is named the NAT's,
    one the capture cannot tell from a NAT's (unread_end) not judged."""
    if host_local(conn):  # the control connection's NDMP port is step 1's
        return local_ports_words(conn, [conn.orig_p] if conn.uid == session.control_uid
                                 else [conn.orig_p, conn.resp_p])
    ends = checked_ends(ctx, session, conn)  # the NDMP port (step 1 names it) left out
    roles = [which for which, _, _ in ends]
    parts, cites = [], []
    for which, host, port in ends:
        inside = ctx.config.in_media_range if which == "media" else ctx.config.in_agent_range
        verdict = "in" if inside(port) else "outside"
        # Two ends of one role (a three-way job's two agents): each named by its host.
        at = f" on {host}" if roles.count(which) > 1 else ""
        words = f"{which} port {port}{at} {verdict} {ctx.ranges(which)}"
        if verdict == "outside" and translated_end(ctx, session, conn, which, (host, port)):
            role = "media server" if which == "media" else "agent"
            elsewhere = media_seen_elsewhere(ctx, session) if which == "media" else None
            if elsewhere is not None and not ctx.config.media_servers:
                words += (f" at {host}, not the address the agent called the media "
                          f"server back at ({elsewhere}): the port of a NAT that "
                          "translated it, not checked")
            else:
                words += (f" at {host}, not a configured {role}'s address: the port of a "
                          f"NAT that translated it, not checked (host_not_configured)")
                cites.append("host_not_configured")
        elif verdict == "outside" and unread_end(ctx, session, which, host):
            words += f" at {host}: not judged, its own port or a NAT's"
        parts.append(words)
    return Said(", ".join(parts), cites)


def failure_words(conn: Connection, lacking: str | None = None) -> str:
    """What the capture shows of a failed opening ("unanswered: 3 SYNs over 3.1 s, ..."),
    or of a connection its originator reset before any data. lacking: what the capture
    holds of the direction it lacks that an unanswered SYN's answer would travel
    (unresent.answer_way_unseen, in way_back.lacking_words' words: "no packet from B to
    A (one direction only)"): the step's detail then says the capture holds none of
    it (lab matrix seed 116 run 14: "no SYN-ACK, RST or ICMP" of SYNs whose ICMP rejects
    a `tcpdump -Q out` capture could not hold)."""
    outcome = connection_outcome(conn)
    if outcome == "established" and closed_before_data(conn):
        closer, how = closing(conn)
        by = {"originator": f"its originator {conn.orig_h}",
              "responder": f"{conn.resp_h}", "both": "both ends"}[closer]
        frames = (cited_rsts(conn) if how == "RST" and closer == "both" else
                  conn.rst_frames if how == "RST" else conn.fin_frames)
        host = conn.orig_h if closer == "originator" else conn.resp_h
        other = "resp" if host == conn.orig_h else "orig"
        unseen = (conn.evidence(other).sent_unseen
                  if closer != "both" and not conn.sniffer_missed
                  and not conn.untold_missed else 0)
        lost = (f" arrived ({unseen:,} B sent never did, "
                f"{frame_text(conn.evidence(other).sent_unseen_frame)})" if unseen else "")
        if closer != "both" and (sacked := sacked_of(conn, host)) is not None:
            lost = sacked_detail(sacked[1], sacked[0])
        cited = frames_words(frames[:2 if closer == "both" else 1], ranges=False,
                             plural=closer == "both")
        return (f"opened, then {'reset' if how == 'RST' else 'closed'} by {by} ({how}, "
                f"{cited}) before any "
                f"data{lost}")
    if outcome == "refused" and own_stack_refused(conn):
        many = len(conn.icmp_frames) > 1
        return (f"not sent: {conn.orig_h}'s own network stack reported {conn.resp_h} "
                f"unreachable with {refusal_how(conn)} ("
                f"{frames_words(conn.icmp_frames, ranges=False, plural=many)}, quoting the SYN "
                f"{connection_ends(conn)}"
                f", which never left {conn.orig_h})")
    if outcome == "refused" and quoted_syn_refused(conn):
        many = len(conn.icmp_frames) > 1
        return (f"refused: the SYN was answered with {refusal_how(conn)} ("
                f"{frames_words(conn.icmp_frames, ranges=False, plural=many)} "
                f"quote{'' if many else 's'} the SYN {connection_ends(conn)}, "
                "which the capture does not hold)")
    if outcome == "refused" and unseen_syn_refused(conn):
        return (f"refused: the SYN was answered with a RST ({frame_text(conn.rst_frames[0])}, "
                "shaped as a refusal; the capture does not hold the SYN it answers)")
    if outcome == "refused" and proxied(conn):
        return (f"refused behind a SYN proxy: a device answered the SYN in {conn.resp_h}'s "
                f"name, then {refusal_how(conn)} ("
                f"{frame_text((conn.rst_frames or conn.icmp_frames)[0])}) refused the connection")
    if outcome == "refused":
        return f"refused: the SYN was answered with {refusal_how(conn)}"
    if outcome == "aborted":
        return (f"answered, then reset by its originator {conn.orig_h} (RST, "
                f"{frame_text(conn.rst_frames[0])}) before any data")
    if outcome == "handshake_incomplete" and handshake_unheard(conn):
        return unheard_detail(conn)
    if outcome == "handshake_incomplete" and conn.far_synack_frames:
        return (f"handshake incomplete: {counted(conn.far_synack_frames, 'SYN-ACK')} from "
                f"{conn.resp_h} only across the NAT (never back to {conn.orig_h}'s side)")
    if outcome == "handshake_incomplete":
        reset = (f", then its RST ({frame_text(conn.rst_frames[0])})" if conn.resp_rst
                 else "")
        if synack_unreachable(conn):  # trial 40 x1
            reset = f", {synack_how(conn)} about them"
        if not conn.orig_pkts:
            # None of the originator's packets on it captured (one direction): its ACK
            # may have been sent and dropped on the way, which the listener's resent
            # SYN-ACKs show (lab matrix seed 113 run 14: "no ACK from 10.77.0.1" though
            # 10.77.0.2's input chain dropped it).
            waited = (f"resent: it never got an ACK from {conn.orig_h}; "
                      if len(conn.synack_frames) > 1 else "")
            return (f"handshake incomplete: {counted(conn.synack_frames, 'SYN-ACK')} from "
                    f"{conn.resp_h}{reset} ({waited}the capture holds none of "
                    f"{conn.orig_h}'s packets on it: one direction only)")
        return (f"handshake incomplete: {counted(conn.synack_frames, 'SYN-ACK')} from "
                f"{conn.resp_h}{reset}, no ACK from {conn.orig_h}")
    syns = syn_count(conn)
    way = ("" if lacking is None else
           f" in the capture, which holds {lacking}, the way one "
           "would travel")
    # One SYN spans no time: "1 SYN over 0.0 s" said nothing (task words58).
    over = (f"{syns} SYNs over {span_words(max(0.0, conn.last_ts - conn.ts))}" if syns != 1
            else "1 SYN")
    return f"unanswered: {over}{unanswered_tail(conn)}{way}"


def named_words(session: Session) -> str:
    """"C6 reached the endpoint the DATA_GET_STATE reply of frame 66 names" for each
    data connection matched by ports that a later reply of the session names
    (Session.port_named, flowcheck.sessions.named); "" when none."""
    return ", ".join(f"{uid} reached the endpoint the {name.removeprefix('NDMP_')} reply of "
                     f"{frame_text(frame)} "
                     f"names" for uid, (frame, name) in session.port_named.items())
