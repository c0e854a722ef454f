"""handshake_incomplete's words for a handshake the capture shows complete that never
completed at the listener (flowcheck.sessions.unheard_ack.ack_unheard: its SYN-ACK
resent after the originator's captured ACK, nothing of the originator's acknowledged):
the packets after the SYN are dropped on their way to the listener (field check trial
34: a rule for SYN only, a stateful firewall on an asymmetric route). Written by
flowcheck.verify.opening.handshake_incomplete; the step's detail by failure_words.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.sessions.unheard_ack import ack_unheard
from flowcheck.verify.allow_rules import return_ports
from flowcheck.verify.context import Context, endpoint


def _frames_words(frames: list[int]) -> str:
    """"frame 21" / "frames 21, 23"."""
    return f"frame{'s' if len(frames) > 1 else ''} {', '.join(map(str, frames))}"


def _ack_words(conn: Connection) -> str:
    """"10.77.0.2's ACK completing it (frame 19)", the frame left out when unknown."""
    frame = f" (frame {conn.ack_frame})" if conn.ack_frame else ""
    return f"{conn.orig_h}'s ACK completing it{frame}"


def _after_words(conn: Connection) -> str:
    """What the originator sent after its ACK and never got acknowledged: "; its FIN
    (frames 30, 34, ...) was resent, never acknowledged" or ""."""
    orig_fins = [f for f in conn.fin_frames if f > conn.synack_frames[0]]
    resends = conn.evidence("orig").resends
    if conn.sent_once("orig"):
        return (f"; the {conn.sent_once('orig')} B {conn.orig_h} sent after it were never "
                f"acknowledged ({resends} resends)" if resends else
                f"; none of the {conn.sent_once('orig')} B {conn.orig_h} sent after it was "
                "acknowledged")
    if len(orig_fins) >= 2:
        return (f"; its FIN was resent, never acknowledged "
                f"({_frames_words(orig_fins)}{', ...' if len(orig_fins) >= 8 else ''})")
    return ""


def unheard_detail(conn: Connection) -> str:
    """Step detail: "handshake incomplete: 10.77.0.1 resent its SYN-ACK 2 times
    (frames 21, 23) after 10.77.0.2's ACK completing it (frame 19), which never reached
    it"."""
    resent = ack_unheard(conn)
    return (f"handshake incomplete: {conn.resp_h} resent its SYN-ACK {len(resent)} times "
            f"({_frames_words(resent)}) after {_ack_words(conn)}, which never reached it")


def unheard_frames(conn: Connection) -> list[int]:
    """The evidence: the SYN(s), the first SYN-ACK, the ACK, the resent SYN-ACKs, the
    originator's FINs after them (resent unacknowledged)."""
    frames = {*conn.syn_frames, *conn.synack_frames, *conn.fin_frames}
    if conn.ack_frame:
        frames.add(conn.ack_frame)
    return sorted(frames)


def report_unheard(ctx: Context, session: Session | None, conn: Connection, what: str,
                   cause: str) -> None:
    """handshake_incomplete for `conn` whose listener never got the ACK the capture holds:
    the message names the ACK, the resent SYN-ACKs and what the originator sent
    unanswered after them, and says where the capture point leaves the drop (between it
    and the listener, or the listener's own firewall: a tap sees arriving packets before
    the host's firewall); the fix is the path towards the listener, not the return
    path of the originator's input chain."""
    resent = ack_unheard(conn)
    listener, connector = conn.resp_h, conn.orig_h
    answer, back_to = return_ports(ctx, conn)
    message = (
        f"The {what} {endpoint(conn.orig_h, conn.orig_p)} -> "
        f"{endpoint(conn.resp_h, conn.resp_p)} never opened on {listener}'s side: the "
        f"capture holds {_ack_words(conn)}, but {listener} resent its SYN-ACK "
        f"{len(resent)} times after it ({_frames_words(resent)}), which a listener does "
        "only while it still waits for that ACK (RFC 9293 3.10.7.4, SYN-RECEIVED), and "
        f"acknowledged nothing of {connector}'s{_after_words(conn)}. The handshake never "
        f"completed: {connector}'s packets after its SYN are dropped on their way to "
        f"{listener} (after the capture point, or by {listener}'s own firewall: a capture "
        "sees arriving packets before the host's firewall). A rule that lets in the SYN "
        "only (one matching `tcp flags syn`, or `ct state new` with no accept of "
        "established connections ahead of the drop), or a stateful firewall on an "
        "asymmetric route that sees one direction of the connection and drops the packets "
        "it holds no state for, does this; the return path is blocked for the connection's "
        "packets after the SYN.")
    fix = (
        f"On {listener} (its input chain) and on any firewall between the hosts, accept "
        f"the whole connection, not only its SYN: TCP from {connector} {back_to} to "
        f"{listener} {answer} whatever its flags, with established connections accepted "
        "ahead of any drop (nft insert rule inet filter input ct state established,related "
        "accept; iptables -I INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT); "
        "a stateful firewall between them must see both directions (make the route "
        "symmetric) or not drop packets of connections whose SYN-ACK it did not see. A "
        f"capture on {listener} at the same time shows whether the ACK reaches it.")
    ctx.add("handshake_incomplete", message, fix, session=session, conn=conn, cause=cause,
            frames=unheard_frames(conn))
