"""Data connections reset in the middle of their transfer: `data_reset`.

A data connection that carried bytes and then ended with a RST before any FIN, and whose
job did not report a normal end after it (which connections: flowcheck.verify.
mid_transfer_resets): the transfer was cut short, step 5 failed, on the RST as evidence.
The finding says who cut it: the data's receiver closing it while the sender was still
sending (flowcheck.verify.receiver_close), the sender's side reset unseen
(flowcheck.verify.unseen_reset), a device between the hosts in one host's name (its TTL:
flowcheck.verify.ttl), or a host's process ending both the data and the control
connection at once. An abnormal halt after the reset (CONNECT_ERROR, ABORTED) is its
consequence, named in the message instead of a data_halted_abnormally of its own. A
capture that ends too soon after the reset to show the halt cannot tell a cut transfer
from a finished one: step 5 is unknown and capture_ended_early names the reset.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session, connection_ends
from flowcheck.sessions import message_op
from flowcheck.verify.capture_points import resets_between, resets_between_words
from flowcheck.verify.carried import carried_words, fin_unseen_possible
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.evidence import after, ended_early
from flowcheck.verify.mid_transfer_resets import cut_transfers, unseen_cut_transfers
from flowcheck.verify.one_exit import ONE_EXIT_SECONDS
from flowcheck.verify.one_way_data import halts_unseen
from flowcheck.verify.receiver_close import (
    closed_by_receiver,
    never_delivered,
    never_delivered_report,
    waited_words,
)
from flowcheck.verify.replies import HALTS, abnormal_reason
from flowcheck.verify.reset_crossed import (
    crossed_sides,
    crossed_words,
    first_rst,
    reset_sides,
    uncrossed_side,
    uncrossed_words,
)
from flowcheck.verify.reset_first import control_reset_sender, reset_before
from flowcheck.verify.rst_words import cited_rsts, reset_time, reset_words
from flowcheck.verify.sent_after_reset import reset_went_on_words, sent_after_reset
from flowcheck.verify.stall_unreachable import router_reported
from flowcheck.verify.ttl import forged_words, reset_ttls, ttl_word
from flowcheck.verify.unseen_reset import dropped_report, dropped_side, dropped_words


def cut_words(ctx: Context, conn: Connection, session: Session, it: str = "it") -> str:
    """How the transfer was cut: "reset mid-transfer (RST, frame 301)", or "the media
    server 10.77.0.1 closed it mid-transfer (FIN, frame 2192) while the agent 10.77.1.2
    was still sending, then reset it (RST, frame 2194)" (`it`: how to name the
    connection)."""
    dropped = dropped_side(ctx, conn)
    if dropped is not None:
        return dropped_words(dropped, session)
    if not closed_by_receiver(conn):
        return f"reset mid-transfer ({reset_words(conn)})"
    if never_delivered(conn):
        return waited_words(conn, session, it)
    sender, receiver = ((conn.orig_h, conn.resp_h) if conn.sender_is_orig
                        else (conn.resp_h, conn.orig_h))
    return (f"{role_words(conn, session, receiver)} closed {it} mid-transfer (FIN, "
            f"{frame_text(conn.fin_frames[0])}) while {role_words(conn, session, sender)} was "
            f"still "
            f"sending, then reset it ({reset_words(conn)})")


def unseen_words(ctx: Context, conn: Connection, session: Session) -> str:
    """Step 5's words for a reset the capture ends too soon after (unseen_cut_transfers)."""
    how = (cut_words(ctx, conn, session, "the data connection") if closed_by_receiver(conn)
           else f"the data connection was reset ({reset_words(conn)})")
    if halts_unseen(ctx, session):
        return (f"{how}: whether the job halted normally after it is in the agent's "
                "direction of the control connection, which the capture lacks (its "
                "NOTIFY_DATA_HALTED; some NDMP servers end a finished transfer with a RST)")
    return (f"{how} {span_words(after(ctx, reset_time(conn)))} before the capture ended: "
            "whether the job halted normally after it is not in the capture")


def check_cut_transfers(ctx: Context) -> None:
    """One data_reset error per data connection reset mid-transfer; one
    capture_ended_early warning per such reset the capture ended too soon after."""
    for session in ctx.sessions:
        hidden = halts_unseen(ctx, session)  # capture_one_direction says why, not its end
        for conn in [] if hidden else unseen_cut_transfers(ctx, session):
            words = (f"the data connection {connection_ends(conn)}")
            ended_early(ctx, session, cut_words(ctx, conn, session, words)
                        if closed_by_receiver(conn) else
                        f"{words} was reset mid-transfer ({reset_words(conn)})",
                        reset_time(conn), [*conn.fin_frames[:1], *cited_rsts(conn)],
                        conn=conn, waits="a halt of its job could be seen",
                        unseen="whether the job halted normally after it (some NDMP servers "
                        "end a finished transfer with a RST) or the transfer was cut short")
        for conn, halt in cut_transfers(ctx, session):
            _report(ctx, session, conn, halt)


def _report(ctx: Context, session: Session, conn: Connection,
            halt: NdmpMessage | None) -> None:
    """data_reset for one transfer cut short; halt: the abnormal halt after it, if any."""
    moved = carried_words(conn, session)  # "in the capture" when it opened before it
    aborted = None
    then = ""
    if halt is not None:
        then = (f" The job then halted with {abnormal_reason(halt)} "
                f"({message_op(halt)}, {frame_text(halt.frame)}).")
    words = f"{connection_ends(conn)}"
    dropped = dropped_side(ctx, conn)
    forged = ""
    if dropped is not None:  # its sender's side reset, the reset not captured (trial 30 D2)
        head, fix = dropped_report(ctx, dropped, session, words, moved)
    elif closed_by_receiver(conn) and never_delivered(conn):
        head, fix = never_delivered_report(ctx, session, conn, words)
    elif closed_by_receiver(conn) and (broke := _path_broke(conn, session)) is not None:
        head, fix = f"The data connection {words} carried {moved}; {broke[0]}", broke[1]
    elif closed_by_receiver(conn):
        receiver = conn.resp_h if conn.sender_is_orig else conn.orig_h
        head = (f"The data connection {words} carried {moved}; "
                f"{cut_words(ctx, conn, session)}, with no normal halt of its job after it: "
                "the receiver gave the transfer up and it was cut short.")
        fix = (f"See the job log and {role_words(conn, session, receiver)}'s NDMP service "
               "log at that time for why it gave the transfer up (a FIN comes from the host "
               "itself, not from a device between them): its control connection lost "
               "(a firewall's reset), its service stopped or restarted, or an error of its "
               "own.")
        control = ctx.by_uid.get(session.control_uid)
        if control is not None and reset_before(control, conn):
            # Its session's control connection was reset first (multipath trial: a
            # firewall on the control path, the DMA's job gone with it).
            sender = control_reset_sender(ctx, control)
            head += (f" The session's control connection had been reset before it ("
                     f"{reset_words(control)}{sender}): the job ended with it, so the "
                     "receiver closed its data connection.")
            fix = ("Find why the control connection was reset ("
                   + ("the device between the hosts that sent it: its session or threat "
                      f"log, its idle timeout for port {control.resp_p}" if sender else
                      "the hosts' logs, then the firewalls between them")
                   + "); the data connection's close followed it.")
    else:
        who = ("both ends" if conn.orig_rst and conn.resp_rst else
               role_words(conn, session, conn.orig_h if conn.orig_rst else conn.resp_h))
        forged = _forged_words(ctx, conn, session)
        if forged and (named := _forged_sides(ctx, conn)) and len(named) == 1:
            who = role_words(conn, session, conn.host(named[0]))  # the other side answered
        crossed = [] if forged else crossed_sides(ctx, conn)
        if not forged and (side := uncrossed_side(ctx, conn)) is not None:
            forged = uncrossed_words(conn, session, side)  # one end's only: review64c
            who = role_words(conn, session, conn.host(side))
        elif not forged and resets_between(ctx, conn):  # two capture points: trial 26 D4
            forged = resets_between_words(conn)
        if forged:
            who = f"a device between them, in the name of {who}"
        head = (f"The data connection {words} was reset by {who} ({reset_words(conn)}"
                f"{'; ' + forged if forged else ''}"
                f"{'; ' + crossed_words(conn, session, crossed) if crossed else ''}) "
                f"after carrying {moved}, before any FIN"
                f"{' the capture holds' if fin_unseen_possible(conn) else ''} and with no "
                "normal halt of its job after it: the transfer was cut short.")
        fix = ("See the job log and both hosts' logs at that time for why the "
               "transfer stopped; if neither host reset it, look for a firewall or IPS "
               f"between {conn.orig_h} and {conn.resp_h} that resets long or large "
               "transfers (a session timeout, a threat signature: its log names it).")
        if crossed:  # the capture set shows the RSTs leave the hosts (field check 78)
            fix = _crossed_fix(conn, session, crossed)
        if forged:
            fix = (f"Look for the firewall, NAT or IPS between {conn.orig_h} and "
                   f"{conn.resp_h} that reset it (a session timeout, a lost state, a threat "
                   "signature: its log names the connection); the hosts did not.")
        aborted = None if forged else _dma_abort(ctx, session, conn)
        if aborted is not None:  # the DMA gave the job up itself (field check 39 t03)
            head += (f" The media server then aborted the job itself "
                     f"({message_op(aborted)}, {frame_text(aborted.frame)}): its job engine gave "
                     "the job up, on an error of its own (its tape or storage: a full "
                     "medium, a media error) or a cancel; no device between them did it.")
            fix = ("See the media server's job log at that time for the error that made it "
                   "abort the job (its tape or storage device: end of medium, a media "
                   f"error; or a cancel): it sent {message_op(aborted)} itself.")
        went_on = None if forged or aborted is not None else sent_after_reset(conn)
        if went_on is not None:  # its own TCP never reset it (trial 37c D3)
            head, fix = reset_went_on_words(ctx, conn, head, *went_on)
    both = _ended_both(ctx, session, conn) if halt is None and dropped is None else None
    if both is not None and forged:  # the host closed on the device's reset (trial 26 D3)
        then = both[0]
    elif both is not None:  # one process's exit ended the session's connections
        then, fix, _ = both
    ctx.add("data_reset", head + then, fix, session=session, conn=conn,
            frames=(conn.fin_frames[:1] if closed_by_receiver(conn) or dropped else [])
            + cited_rsts(conn) + ([both[2]] if both else [])
            + ([aborted.frame] if aborted is not None else [])
            + ([halt.frame] if halt else []),
            ts=reset_time(conn), cause="data")


def _crossed_fix(conn: Connection, session: Session, sides: list[str]) -> str:
    """data_reset's fix when the capture set shows each RST leave its host itself
    (reset_crossed.crossed_sides): that host's logs, no device between the points."""
    hosts = [role_words(conn, session, conn.host(side)) for side in sides]
    if len(hosts) == 1:
        return (f"See the job log and {hosts[0]}'s NDMP service and system logs at that "
                f"time for why it reset the transfer: the RST left {hosts[0]} itself (the "
                "capture set holds it at both capture points), so no device between the "
                "capture points sent it; its NDMP service stopped or crashed, or a firewall "
                "on it rejected the connection with a reset.")
    return (f"See the job log and the NDMP service and system logs of {' and '.join(hosts)} "
            "at that time for why they reset the transfer: each RST left its host itself "
            "(the capture set holds each at both capture points), so no device between "
            "the capture points sent them; their NDMP services stopped or crashed, or a "
            "firewall on them rejected the connection with a reset.")


# A DMA's abort this soon after the data connection's reset is its answer to the reset's
# cause (seconds; a job engine aborts within moments of the error).
_ABORT_AFTER_RESET_SECONDS = 10.0


def _dma_abort(ctx: Context, session: Session, conn: Connection) -> NdmpMessage | None:
    """The media server's DATA_ABORT or MOVER_ABORT on the control connection within
    _ABORT_AFTER_RESET_SECONDS after it alone reset the data connection, before any halt
    of the agent's (on which it could be acting): its job engine gave the job up itself
    (a full tape of its own read "if neither host reset it, look for a firewall"); None
    otherwise."""
    media = session.media_server
    if not (conn.orig_rst ^ conn.resp_rst) or \
            (conn.orig_h if conn.orig_rst else conn.resp_h) != media:
        return None
    stream = ctx.stream_by_uid.get(session.control_uid)
    reset = reset_time(conn)
    for message in stream.messages if stream is not None else []:
        if message.ts < reset:
            continue
        if message.ts - reset > _ABORT_AFTER_RESET_SECONDS or (
                message.direction == "resp" and message_op(message) in HALTS):
            return None  # the agent's halt first: the DMA may abort on what it reported
        if (message.type == "request" and message.direction == "orig"
                and message_op(message) in ("DATA_ABORT", "MOVER_ABORT")):
            return message
    return None


def _path_broke(conn: Connection, session: Session) -> tuple[str, str] | None:
    """(words, fix) for a receiver's close that came after a router reported the sender
    unreachable (stall_unreachable.router_reported, its first ICMP before the receiver's
    FIN): the path to the sender broke and the receiver gave up waiting, no error of its
    own (field check trial 37c: a router's link down 30 s, an ARP entry the agent no
    longer answered, read "see the media server's NDMP service log"). None otherwise."""
    reported = router_reported(conn)
    if reported is None or not conn.fin_frames or conn.icmp_frames[0] > conn.fin_frames[0]:
        return None
    sender, receiver = ((conn.orig_h, conn.resp_h) if conn.sender_is_orig
                        else (conn.resp_h, conn.orig_h))
    router = conn.icmp_sender
    return (f"the router {router} reported {role_words(conn, session, sender)} unreachable "
            f"with {reported} before {role_words(conn, session, receiver)} closed it (FIN, "
            f"{frame_text(conn.fin_frames[0])}) and reset it ({reset_words(conn)}), with no "
            "normal halt of its job after it: the path to "
            f"{sender} broke, and {receiver} gave the transfer up after waiting for its "
            "data (its timeout), not for an error of its own.",
            f"Check the path from {router} to {sender}: its link, its route and its ARP or "
            f"neighbour entry for {sender} (`ip neigh` there: FAILED or INCOMPLETE when "
            f"{sender} no longer answers; another host claiming its address looks the "
            f"same); then {sender}'s own log. {receiver}'s close was its timeout.")


def _forged_sides(ctx: Context, conn: Connection) -> list[str]:
    """The sides ("orig", "resp") whose RSTs a device between the hosts sent in their
    name: their first RST's TTL other than their own packets' then (verify.ttl.
    reset_ttls). When only one side's is, the other side's RSTs (at its own TTL) must
    all come after it: that side's TCP, which the forged RST in its peer's name reached
    and made drop the connection, answering the peer's later packets with RSTs (RFC
    9293 3.10.7.1): the normal shape of a firewall's or IPS's reset (newuser 67 item 1).
    Empty when a RST's TTL is unknown, no RST is forged, or the genuine side reset first
    (its own reset may be the cause)."""
    sides = reset_sides(conn)
    ttls = {side: reset_ttls(ctx, conn, side) for side in sides}
    if not sides or any(t is None for t in ttls.values()):
        return []
    forged = [side for side in sides if ttls[side][0] != ttls[side][1]]  # type: ignore[index]
    if len(forged) == 1 and len(sides) == 2:
        genuine = next(side for side in sides if side != forged[0])
        if first_rst(conn, genuine) < first_rst(conn, forged[0]):
            return []
    return forged


def _forged_words(ctx: Context, conn: Connection, session: Session) -> str:
    """The TTL evidence of the RSTs a device between the hosts sent in a side's name
    (_forged_sides: "its TTL 64, where the agent 10.67.2.2's own packets arrive with
    63"), and when the other side reset too at its own TTL, that its RSTs answered the
    device's reset; "" when no side's RSTs are forged."""
    forged = _forged_sides(ctx, conn)
    words = "; ".join(
        forged_words(role_words(conn, session, conn.host(side)),
                     *reset_ttls(ctx, conn, side))  # type: ignore[misc]
        for side in forged)
    genuine = [side for side in reset_sides(conn) if side not in forged]
    if forged and genuine:
        own, peer = conn.host(genuine[0]), conn.host(forged[0])
        words += (f"; {role_words(conn, session, own)}'s own RSTs (from "
                  f"{frame_text(first_rst(conn, genuine[0]))}, at its own "
                  f"{ttl_word(own)}) came after: its TCP answering {peer}'s later "
                  "packets once that reset had ended the connection on its side")
    return words


def _ended_both(ctx: Context, session: Session, conn: Connection
                ) -> tuple[str, str, int] | None:
    """The words, fix and FIN frame when the host that alone reset the data connection also closed
    the session's control connection (its first FIN, NdmpStream.fin) within
    ONE_EXIT_SECONDS of the RST: it ended both at once, as its process's exit does (a
    DMA interrupted or cancelled, a service stopped or crashed); None otherwise. Devices
    between the hosts reset connections, they do not close them (RFC 9293 3.6: a FIN is
    its sender's close). When the RST was a device's (_forged_words), the close is the
    host's answer to it: the words say so and the fix stays the device's (trial 26 D3)."""
    control = ctx.by_uid.get(session.control_uid)
    stream = ctx.stream_by_uid.get(session.control_uid)
    if control is None or stream is None or stream.fin is None \
            or conn.orig_rst == conn.resp_rst or closed_by_receiver(conn):
        return None
    host = conn.orig_h if conn.orig_rst else conn.resp_h
    fin = stream.fin
    if host != control.host(fin.direction) \
            or abs(fin.ts - reset_time(conn)) > ONE_EXIT_SECONDS:
        return None
    gap = fin.ts - reset_time(conn)
    when = f"{span_words(abs(gap))} {'later' if gap >= 0 else 'before'}"
    if fin.direction == "orig":
        role, what = "the media server", ("its job engine (the DMA) ended: the job was "
                                          "cancelled or interrupted, or the job engine "
                                          "stopped or crashed")
        fix = ("See the job log and the media server's system event log at that time: the "
               "job cancelled or interrupted, or the job engine service stopped or crashed. "
               "No device between the hosts did it: devices reset connections, they do not "
               "close them.")
    else:
        role, what = "the agent", "its NDMP service stopped, restarted or crashed"
        fix = ("See the agent's NDMP service log and its system event log at that time (the "
               "service stopped, restarted or crashed), then the job log. No device between "
               "the hosts did it: devices reset connections, they do not close them.")
    words = (f" {role.capitalize()} {host} also closed the session's control connection "
             f"(FIN, {frame_text(fin.frame)}) {when}. It ended both connections at once, as the "
             f"system ends a process's connections when it exits; {what}.")
    if _forged_words(ctx, conn, session):  # the RST was a device's: the close answers it
        words = (f" {role.capitalize()} {host} then closed the session's control "
                 f"connection (FIN, {frame_text(fin.frame)}) {when}: its job ended on the reset "
                 "(a device that resets a connection in one host's name most often "
                 "resets the other host too).")
    return words, fix, fin.frame
