"""handshake_incomplete's words for a handshake the capture shows complete that never
completed at the listener (flowcheck.sessions.unheard_ack.ack_unheard: its SYN-ACK
resent after the originator's captured ACK, nothing of the originator's acknowledged):
the packets after the SYN are dropped on their way to the listener (field check trial
34: a rule for SYN only, a stateful firewall on an asymmetric route). Written by
flowcheck.verify.handshake_incomplete; the step's detail by failure_words.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Connection, Session, connection_ends
from flowcheck.sessions.unheard_ack import (
    ack_unheard,
    acks_repeated,
    acks_unseen,
    handshake_unheard,
    unheard_reset,
)
from flowcheck.verify.allow_rules import capitalised, lowered, own_target, return_ports
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.capture_host_proof import CaptureHostProof
from flowcheck.verify.context import Context
from flowcheck.verify.established_accept import established_accept


def _frames_words(frames: list[int]) -> str:
    """"frame 21" / "frames 21, 23"."""
    return f"{frames_words(frames, ranges=False, plural=len(frames) > 1)}"


def _fins_words(fins: list[int]) -> str:
    """"frames 30, 34, ..." for FIN frames (Connection.fin_frames keeps the first few:
    eight or more may have more after them)."""
    return f"{_frames_words(fins)}{', ...' if len(fins) >= 8 else ''}"


def _ack_words(conn: Connection) -> str:
    """"10.77.0.2's ACK completing it (frame 19)", the frame left out when unknown."""
    frame = f" ({frame_text(conn.ack_frame)})" if conn.ack_frame else ""
    return f"{conn.orig_h}'s ACK completing it{frame}"


def _after_words(conn: Connection) -> str:
    """What the originator sent after its ACK and never got acknowledged: "; 10.77.0.1's
    FIN was resent, never acknowledged (frames 30, 34, ...)" (named: the sentence before
    ends on the listener), the RST its FIN got
    (unheard_ack.reset_unknown), or ""."""
    orig_fins = [f for f in conn.fin_frames if f > conn.synack_frames[0]]
    resends = conn.evidence("orig").resends
    if conn.sent_once("orig"):
        # sent_once counts a resend's bytes again (it crossed the wire twice): said so,
        # or 15,928 B sent once and resent 7 times in 1,448 B segments read as 26,064 B
        # of data (lab matrix seed 114 run 32).
        return (f"; the {conn.sent_once('orig'):,} B {conn.orig_h} sent after it, its "
                f"{resends} resend{'s' if resends != 1 else ''} included, were never "
                "acknowledged" if resends else
                f"; none of the {conn.sent_once('orig'):,} B {conn.orig_h} sent after it was "
                "acknowledged")
    if reset := unheard_reset(conn):
        fin = max(f for f in orig_fins if f < reset)
        return (f"; {conn.orig_h}'s FIN ({frame_text(fin)}) got a RST from {conn.resp_h} ("
                f"{frame_text(reset)}), "
                "which had given the half-open connection up: its TCP resets a segment "
                "for a connection it does not have (RFC 9293 3.10.7.1)")
    if len(orig_fins) >= 2:
        return (f"; {conn.orig_h}'s FIN was resent, never acknowledged "
                f"({_fins_words(orig_fins)})")
    return ""


def _loss_too(resends: str) -> str:
    """The lossy-path reading beside a firewall's, when _other_resends found some."""
    return (f" The path loses packets too ({resends}): random loss can take the ACK and "
            "each of its repeats as well." if resends else "")


def _other_resends(ctx: Context, conn: Connection) -> str:
    """"other connections between 10.77.0.1 and 10.77.1.2 resent 11 segments (C1)" when
    other connections between the two hosts hold retransmitted segments
    (Connection.retransmits, either direction): the path loses packets. "" when none
    (field check trial 37: 20% random loss read as a firewall's only)."""
    pair = {conn.orig_h, conn.resp_h}
    lossy = [c for c in ctx.connections
             if c is not conn and c.retransmits and {c.orig_h, c.resp_h} == pair]
    if not lossy:
        return ""
    uids = ", ".join(c.uid for c in lossy[:4]) + (", ..." if len(lossy) > 4 else "")
    return (f"other connections between {conn.orig_h} and {conn.resp_h} resent "
            f"{sum(c.retransmits for c in lossy)} segments ({uids})")


def _repeats_words(conn: Connection) -> str:
    """What a capture of the originator's packets alone holds (acks_repeated): "only
    10.77.0.1's packets of it: its SYN once (frame 11), its ACK of 10.77.0.2's SYN-ACK
    (not captured) 3 times with the same numbers (again in frames 14, 16) and nothing
    else sent between, and its FIN, resent, never acknowledged (frames 19, 24, 26)"
    (the repeats' frames: Connection.ack_repeat_frames, the first few)."""
    syns = len(conn.syn_frames)
    orig_fins = conn.fin_frames
    repeats = acks_repeated(conn)
    again = conn.ack_repeat_frames
    where = (f" (again in {_frames_words(again)}{', ...' if repeats > len(again) else ''})"
             if again else "")
    return (f"only {conn.orig_h}'s packets of it: its SYN "
            f"{'once' if syns == 1 else f'{syns} times'} ({frame_text(conn.syn_frames[0])}), its "
            f"ACK of {conn.resp_h}'s SYN-ACK (not captured) {repeats + 1} times "
            f"with the same numbers{where} and nothing else sent between, and its FIN, "
            f"resent, never acknowledged ({_fins_words(orig_fins)})")


def unheard_detail(conn: Connection) -> str:
    """Step detail: "handshake incomplete: 10.77.0.1 resent its SYN-ACK 2 times
    (frames 21, 23) after 10.77.0.2's ACK completing it (frame 19), which never reached
    it"; for a capture of the originator's packets alone, "handshake incomplete:
    10.77.0.1 answered 10.77.0.2's SYN-ACK 3 times (its resends, not captured), and its
    FIN was resent, never acknowledged: the ACK never reached 10.77.0.2"."""
    repeats = acks_repeated(conn)
    if repeats:
        return (f"handshake incomplete: {conn.orig_h} answered {conn.resp_h}'s SYN-ACK "
                f"{repeats + 1} times (its resends, not captured), and its FIN was resent, "
                f"never acknowledged: the ACK never reached {conn.resp_h}")
    if unseen := acks_unseen(conn):
        return (f"handshake incomplete: {conn.resp_h} resent its SYN-ACK {len(unseen)} "
                f"times ({_frames_words(unseen)}), no ACK from {conn.orig_h} before its "
                f"FIN, which {conn.resp_h} reset: the ACK never reached it")
    resent = ack_unheard(conn)
    return (f"handshake incomplete: {conn.resp_h} resent its SYN-ACK {len(resent)} times "
            f"({_frames_words(resent)}) after {_ack_words(conn)}, which never reached it")


def unheard_frames(conn: Connection) -> list[int]:
    """The evidence: the SYN(s), the first SYN-ACK, the ACK, the resent SYN-ACKs, the
    originator's repeats of that ACK (Connection.ack_repeat_frames: its duplicate ACKs,
    each answering a SYN-ACK resent; the count acks_repeated reads), its FINs after them
    (resent unacknowledged), the listener's RST. make_finding lists the first
    FRAMES_LISTED (frames_more counts the rest)."""
    frames = {*conn.syn_frames, *conn.synack_frames, *conn.ack_repeat_frames,
              *conn.fin_frames, *conn.rst_frames[:1]}
    if conn.ack_frame:
        frames.add(conn.ack_frame)
    return sorted(frames)


def queue_full_signs(ctx: Context, conn: Connection) -> list[Connection]:
    """Other connections to the same listener endpoint (conn.resp_h, conn.resp_p) that say
    its accept queue was full rather than a firewall dropping the ACK: completed on the
    listener's side (no SYN-ACK of theirs resent after the ACK) but never got a payload
    byte, FIN or RST from it (accepted by the kernel, never by the service: an NDMP
    agent greets at once), or their SYN unanswered while conn was open (Linux drops a
    SYN too when the queue is full). A full queue (listen(2) called, accept(2) not)
    drops the ACK completing the handshake and resends the SYN-ACK
    (TcpExtListenOverflows), the same on the wire as a firewall's drop."""
    signs = []
    for other in ctx.connections:
        if (other is conn or other.resp_h != conn.resp_h or other.resp_p != conn.resp_p
                or handshake_unheard(other)):
            continue
        silent = (other.established and not other.resp_bytes and not other.resp_rst
                  and "f" not in other.history)
        unanswered = (other.syn_seen and not other.synack_frames
                      and other.ts <= conn.last_ts and other.last_ts >= conn.ts)
        if silent or unanswered:
            signs.append(other)
    return signs


def _queue_words(listener: str, port: int, signs: list[Connection]) -> str:
    """The accept-queue reading, its evidence named when other connections show it."""
    if not signs:
        return (f" A full accept queue on {listener} (the service listening on {port} "
                "but not accepting its connections) drops the ACK the same way on Linux "
                "(its default: net.ipv4.tcp_abort_on_overflow 0).")
    ports = ", ".join(str(c.orig_p) for c in signs[:4]) + (", ..." if len(signs) > 4 else "")
    return (f" Other connections to {listener}:{port} (from ports {ports}) completed but "
            "got nothing from it, or had their SYN unanswered at the same time: the "
            f"service on {listener} is not accepting its connections and its accept queue "
            "is full (Linux then drops the ACK completing a handshake and resends its "
            "SYN-ACK: TcpExtListenOverflows), which looks the same on the wire as a "
            "firewall's drop and is the likelier reading here.")


# Said beside the netfilter commands: the hosts of Backup Exec jobs are mostly Windows
# (a check of every lab capture rewritten with Windows' TTL, IP IDs and no timestamps
# found the readings unchanged and these fixes Linux-only: session 34).
WINDOWS_STATEFUL = ("; Windows Defender Firewall keeps the state of the connections it "
                    "allows, so on Windows look for a third-party firewall or security "
                    "suite that passes SYNs only")


def _queue_fix(listener: str, port: int, what: str) -> str:
    """The accept queue's fix on `listener`: restart the service that listens on `port`,
    the media server's job engine for a callback (`what`), else the NDMP service there
    (the agent's, or the media server's mover). Field check 74 (seed 137 run 19): a
    callback's fix said "restart the agent service" for the media server's listener."""
    service = ("the job engine (the media server's service the agent calls back)"
               if what == "callback" else f"the service listening on {port}")
    return (f"On {listener}, check whether the NDMP service accepts its connections: "
            "`nstat -az TcpExtListenOverflows` counting up, `ss -ltn` showing the "
            f"listener on {port} with Recv-Q at Send-Q (the queue full; on Windows, "
            f"`netstat -ano -p tcp | findstr :{port}` and the service's event log); if so, "
            f"restart {service} on {listener} (it listens but no longer accepts).")


def towards_listener_fix(ctx: Context, conn: Connection, session: Session | None, *,
                         here: bool = False) -> str:
    """The fix for a path towards the listener (conn.resp_h) that drops the originator's
    packets after its SYN: accept the whole connection on the listener's input chain and
    on the firewalls between, established connections ahead of any drop. here: the
    capture was taken on the listener and holds them arriving (listener_capture): its
    own input chain alone. The listener's ports as the rule on it names them
    (allow_rules.own_target: a callback's or data port by the range it is drawn from, its
    role's, "and the rest of the agent range" with the default range), not the one port
    this job drew (review61b: with the default range "to 10.77.0.2 port 6001")."""
    listener, connector = conn.resp_h, conn.orig_h
    _, back_to = return_ports(ctx, conn)
    answer = own_target(ctx, conn, session)
    where = (f"On {listener} (its input chain)" if here else
             f"On {listener} (its input chain) and on any firewall between the hosts")
    accept = (
        f"{where}, accept the whole connection, not only its SYN: TCP from {connector} "
        f"{back_to} to {listener} {answer}, whatever its flags, with established "
        "connections accepted ahead of any drop "
        f"{established_accept('input', windows=WINDOWS_STATEFUL)}")
    if here:
        return f"{accept}."
    return (f"{accept}; a stateful firewall between them must see both "
            "directions (make the route symmetric) or not drop packets of connections whose "
            f"SYN-ACK it did not see. A capture on {listener} at the same time shows whether "
            "the ACK reaches it.")


def listener_capture(ctx: Context, conn: Connection) -> CaptureHostProof | None:
    """The proof that the capture was taken on conn's listener itself, when the Linux
    cooked marks give it (capture_host.proven_host, marked: the host, not a point on its
    segment as the TTLs alone place it) and the capture holds the originator's ACK or
    its repeats: they arrived there, past every device between the hosts, so only the
    listener's own firewall (a tap sees arriving packets before it) or its stack can
    have dropped them (lab matrix seed 127 run 13: `tcpdump -i any` on the agent, its
    input chain dropping all but the SYN, read "after the capture point, or by fd77::2's
    own firewall" and asked for "a capture on fd77::2"). Only of one file of one
    interface (ctx.order.frames): the marks are kept per host pair, not per file, and
    only of SYNs, FINs and RSTs, so in a set of files they may prove the listener's
    capture while the ACK is another file's (review58b: the agent's `-i any` file given
    with the media server's holding only its ACKs, marked leaving it, read "arrived
    there, past every device between the hosts"). None otherwise."""
    if not conn.ack_frame or not ctx.order.frames:
        return None
    on = proven_host(ctx, conn.orig_h, conn.resp_h)
    return on if on is not None and on.marked and on.host == conn.resp_h else None


def report_unheard(ctx: Context, session: Session | None, conn: Connection, what: str,
                   cause: str, cut: str = "") -> None:
    """handshake_incomplete for `conn` whose listener never got the ACK the capture holds:
    the message names the ACK, the resent SYN-ACKs and what the originator sent
    unanswered after them, and says where the capture point leaves the drop (between it
    and the listener, or the listener's own firewall: a tap sees arriving packets before
    the host's firewall), or a full accept queue on the listener (queue_full_signs:
    put first when other connections to the same port show it); the fix is the path
    towards the listener (or the listener's service), not the originator's input chain.
    cut: what a capture that ended soon after the connection's last packet cannot show
    (unresent.unheard_cut_words), a sentence added to the message ("": none)."""
    listener, connector = conn.resp_h, conn.orig_h
    signs = queue_full_signs(ctx, conn)
    resends = _other_resends(ctx, conn)
    if acks_repeated(conn):
        held = (f"{_repeats_words(conn)}. Each repeat answers a SYN-ACK {listener} resent, "
                "which a listener does only while it still waits for the ACK completing "
                "the handshake (RFC 9293 3.10.7.4, SYN-RECEIVED)")
    elif unseen := acks_unseen(conn):
        held = (f"{connector}'s SYN ({frame_text(conn.syn_frames[0])}), then {listener}'s SYN-ACK "
                f"resent {len(unseen)} times ({_frames_words(unseen)}) with no ACK from "
                f"{connector} before them, which a listener does only while it still waits "
                "for the ACK completing the handshake (RFC 9293 3.10.7.4, SYN-RECEIVED), "
                f"and no packet of {connector}'s but its SYN until its FIN, which "
                f"acknowledges the SYN-ACK ({connector} got one){_after_words(conn)}")
    else:
        resent = ack_unheard(conn)
        held = (f"{_ack_words(conn)}, but {listener} resent its SYN-ACK {len(resent)} "
                f"times after it ({_frames_words(resent)}), which a listener does only "
                "while it still waits for that ACK (RFC 9293 3.10.7.4, SYN-RECEIVED), and "
                f"acknowledged nothing of {connector}'s{_after_words(conn)}")
    head = (f"The {what} {connection_ends(conn)} never opened on {listener}'s side: the "
            f"capture holds {held}.")
    queue_fix = _queue_fix(listener, conn.resp_p, what)
    if unheard_reset(conn):
        # The FIN got through: no rule drops the connection's packets after its SYN.
        message = (
            f"{head} The handshake never completed, yet {connector}'s FIN reached "
            f"{listener}: the path carries {connector}'s packets after its SYN, which a "
            "rule letting in the SYN only, or a stateful firewall without the "
            "connection's state, would have dropped as well. The ACK and each of its "
            f"repeats were lost on the way to {listener}: a path that loses packets (a "
            f"lossy or congested link, a device dropping under load"
            f"{f'; {resends}' if resends else ''})."
            f"{_queue_words(listener, conn.resp_p, signs)}")
        find = (f"Find where the path from {connector} to {listener} loses packets "
                "(captures on both hosts at once show it; the links' and devices' error "
                "and drop counters).")
        fix = (f"{queue_fix} Otherwise: {lowered(find)}" if signs else
               f"{find} Then: {lowered(queue_fix)}")
    elif on := listener_capture(ctx, conn):
        message = (
            f"{head} The handshake never completed: this capture was taken on {listener} "
            f"({on.words}), so {connector}'s ACK and what it sent after it arrived there, "
            f"past every device between the hosts, and {listener} itself drops them: its "
            "own firewall (a capture sees arriving packets before the host's firewall), with a "
            "rule that lets in the SYN only (one matching `tcp flags syn`, or `ct state "
            "new` with no accept of established connections ahead of the drop)."
            f"{_queue_words(listener, conn.resp_p, signs)}")
        firewall_fix = towards_listener_fix(ctx, conn, session, here=True)
        fix = (f"{queue_fix} Otherwise: {lowered(firewall_fix)}" if signs else
               f"{firewall_fix} If its firewall lets them in: {lowered(queue_fix)}")
    else:
        message = (
            f"{head} The handshake never completed: {connector}'s packets after its SYN "
            f"are dropped on their way to {listener} (after the capture point, or by "
            f"{listener}'s own firewall: a capture sees arriving packets before the host's "
            "firewall). A rule that lets in the SYN only (one matching `tcp flags syn`, "
            "or `ct state new` with no accept of established connections ahead of the "
            "drop), or a stateful firewall on an asymmetric route that sees one direction "
            "of the connection and drops the packets it holds no state for, does this: "
            f"the path towards {listener} drops {connector}'s packets after its SYN."
            f"{_loss_too(resends)}{_queue_words(listener, conn.resp_p, signs)}")
        firewall_fix = towards_listener_fix(ctx, conn, session)
        fix = (f"{queue_fix} Otherwise: {lowered(firewall_fix)}" if signs else
               f"{firewall_fix} If the ACK reaches it: {lowered(queue_fix)}")
        if resends:
            fix = (f"The path between {connector} and {listener} loses packets: find where "
                   "(a lossy or congested link, a device dropping under load; captures on "
                   f"both hosts at once show it). {fix}")
    if cut:
        message += f" {capitalised(cut)}."
    ctx.add("handshake_incomplete", message, fix, session=session, conn=conn, cause=cause,
            frames=unheard_frames(conn), subject=len(f"The {what} "))


def synack_reached_originator(ctx: Context, conn: Connection) -> bool:
    """Did the SYN-ACK reach the originator although the capture holds no ACK of it? The
    originator's SYN captured once, nothing else of its, and the listener's SYN-ACK resent
    for longer than a retransmission timeout after it (Config.retransmission_timeout): an
    originator that never got a SYN-ACK resends its SYN within 1 s (Linux) to 3 s
    (Windows), past the same capture point (RFC 6298 5.7). So it got the SYN-ACK and its
    ACK was lost before the capture point, on the way towards the listener (a capture
    point between the firewall and the listener)."""
    return (conn.syn_seen and not conn.syn_retries and conn.orig_pkts == 1
            and len(conn.synack_frames) >= 2 and conn.syn_ts is not None
            and conn.last_ts - conn.syn_ts > ctx.config.retransmission_timeout)


def report_ack_lost_before(ctx: Context, session: Session | None, conn: Connection,
                           head: str, cause: str, subject: int = 0) -> None:
    """handshake_incomplete when synack_reached_originator: the forward path towards the
    listener, not the return traffic (subject: how long head's subject is,
    Finding.subject)."""
    listener, connector = conn.resp_h, conn.orig_h
    span = conn.last_ts - (conn.syn_ts or conn.ts)
    ctx.add("handshake_incomplete",
            f"{head}: {connector} sent its SYN once ({frame_text(conn.syn_frames[0])}) while "
            f"{listener} resent its SYN-ACK {len(conn.synack_frames) - 1} times over "
            f"{span_words(span)} ({_frames_words(conn.synack_frames)}). An originator that got no "
            "SYN-ACK resends its SYN within 1 to 3 s (Linux, Windows), past the same "
            f"capture point: {connector} got the SYN-ACK, and its ACK was lost before the "
            f"capture point, so the path towards {listener} drops {connector}'s packets "
            f"after its SYN (the capture point lies between that drop and {listener}).",
            towards_listener_fix(ctx, conn, session), session=session, conn=conn,
            cause=cause, frames=[*conn.syn_frames, *conn.synack_frames], subject=subject)


def listener_side_only(conn: Connection) -> bool:
    """Does the capture hold only the listener's side of the handshake: SYN-ACKs resent,
    no packet of the originator's (its SYN and any ACK missing alike), and nothing else of
    the listener's (no payload, FIN or RST: a connection that went on is not this)?"""
    return (not conn.syn_seen and not conn.orig_pkts and len(conn.synack_frames) >= 2
            and not conn.resp_bytes and not conn.resp_rst and "f" not in conn.history)


def both_directions_words(conn: Connection) -> str:
    """The reading of listener_side_only: either direction may drop."""
    return (f"the capture holds only {conn.resp_h}'s packets, its SYN-ACK resent "
            f"({_frames_words(conn.synack_frames)}): {conn.resp_h} never got an ACK, "
            f"because either {conn.orig_h} never got the SYN-ACK (the return traffic "
            f"blocked) or {conn.orig_h}'s ACK was dropped on its way to {conn.resp_h}; "
            f"a capture of {conn.orig_h}'s direction tells which")
