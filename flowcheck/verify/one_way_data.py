"""A data connection in a capture of one direction (field check 41's cuts): whether it
carried data when only its receiver's ACKs show the bytes (carried), and whether the
capture can show its job's halt at all (halts_unseen), and the data connections its one
captured side never closed (unclosed_one_way)."""

from __future__ import annotations

from operator import attrgetter

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, connection_ends
from flowcheck.sessions import one_sided
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import conn_sides


def halts_unseen(ctx: Context, session: Session) -> bool:
    """Does the capture lack the agent's side of the session's control connection
    (one_sided "resp": the media server's packets only), where its NOTIFY_DATA_HALTED
    travels? A reset's halt, normal or not, cannot be seen then, however long the
    capture ran (field check 41's one-direction cuts)."""
    control = ctx.by_uid.get(session.control_uid)
    return control is not None and one_sided(control) == "resp"


def carried(conn: Connection) -> bool:
    """Did the connection carry data: payload in the capture, or (a capture of one
    direction) more bytes of the uncaptured side than a closing FIN its peer's ACKs
    acknowledge?"""
    return bool(conn.orig_bytes or conn.resp_bytes
                or max(conn.orig_acked_unseen, conn.resp_acked_unseen) > 1)


def data_carried(ctx: Context, session: Session) -> tuple[Connection, ...]:
    """The session's data connections that carried data in the capture (carried), by
    their first captured frame (equal ones in the session's order): what shows its job
    ran (unseen_start.running_data: those with payload captured; one_way_end: those
    before the control connection's FIN). Found once per session (Context.data_carried)."""
    found = ctx.data_carried.get(session.id)
    if found is None:
        found = ctx.data_carried[session.id] = tuple(sorted(
            (conn for uid in session.data_connections
             if (conn := ctx.by_uid.get(uid)) is not None and carried(conn)),
            key=attrgetter("first_frame")))
    return found


def unclosed_one_way(ctx: Context, session: Session) -> list[Connection]:
    """The session's data connections, in a capture of the media server's packets only
    (the control connection and each of them one-sided), that carried nothing (carried)
    and that the media server never closed (no FIN, no RST of its own) although it
    closed the control connection after their last packet: a host that ends a session
    closes its sockets, so a RST it got, which the capture lacks, had ended them (the
    sweep's cut of trial37b's synproxy-dataport-closed-media: a data connection the
    agent's kernel reset after a SYN proxy's handshake read step 5 `ok`)."""
    control = ctx.by_uid.get(session.control_uid)
    if control is None or one_sided(control) != "resp" or not control.fin_frames:
        return []
    closed = control.fin_frames[0]
    return [conn for uid in session.data_connections
            if one_sided(conn := ctx.by_uid[uid]) is not None and not conn.fin_frames
            and not conn.rst_frames and not carried(conn) and conn.last_frame < closed]


def unclosed_words(ctx: Context, session: Session) -> str | None:
    """Step 5's words for unclosed_one_way's connections; None when none."""
    found = unclosed_one_way(ctx, session)
    if not found:
        return None
    control = ctx.by_uid[session.control_uid]
    named = ", ".join(f"{c.uid} ({connection_ends(c)})" for c in found)
    return (f"{named} carried nothing and {control.orig_h} never closed "
            f"{'it' if len(found) == 1 else 'them'} (no FIN or RST of its own), though it "
            f"closed the control connection (FIN, {frame_text(control.fin_frames[0])}): a RST from "
            f"{control.resp_h}, which the capture lacks (it holds {control.orig_h}'s packets "
            "only), most likely ended "
            f"{'it' if len(found) == 1 else 'them'} (refused after the handshake, or reset), "
            "so that resource's data may never have flowed")


def sender_fin_acked(conn: Connection, session: Session, key: str) -> bool:
    """Did the receiver acknowledge the FIN of the data's sender (key: job_direction),
    the capture holding no packet of the sender: the receiver's FIN captured and its
    highest ACK one past the one before (Connection.orig/resp_fin_unseen of a side never
    captured: connections.accounting.fin_proved_unseen)? A last data segment of one byte
    looks the same."""
    media, agent = conn_sides(conn, session)
    sender = agent if key == "to_media" else media
    if sender is None:  # neither end the session's: no sender to speak of
        return False
    orig = sender == (conn.orig_h, conn.orig_p)
    return (not (conn.orig_pkts if orig else conn.resp_pkts)
            and (conn.orig_fin_unseen if orig else conn.resp_fin_unseen))


def sender_fin_words(session: Session, conns: list[Connection], key: str, sender: str,
                     receiver: str) -> str:
    """Step 5's words, when only the receiver's ACKs show the data (sender, receiver:
    their names), for the data connections whose sender's FIN the receiver acknowledged
    (sender_fin_acked): "" when none."""
    closed = sum(sender_fin_acked(conn, session, key) for conn in conns)
    if not closed:
        return ""
    which = ("the data connection" if len(conns) == 1 else "each data connection"
             if closed == len(conns) else f"{closed} of the {len(conns)} data connections")
    return (f"; on {which} the {receiver}, closing, acknowledged one past the data it had "
            f"acknowledged: the {sender}'s FIN, which the capture lacks (a last segment of "
            "one byte would look the same)")
