"""A data connection's stall seen from one side alone (a capture of one direction):
what the closer's own ACKs show of the other side's data (stall_receiver.acked_before),
and the packet that shows the other side still heard after the data stopped
(stall_receiver.answered_after), in words; the fix that follows them
(flowcheck.verify.stalled_transfer, data_stalled). v4-midjob-data-drop-at-media cut to
the media server's packets read "never carried data" and "check that the agent is up"
though its ACKs acknowledged 699,568 B and the agent's FIN reached it after.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, connection_ends, other_direction
from flowcheck.verify.allow_rules import capitalised
from flowcheck.verify.context import Context
from flowcheck.verify.stall_record import Stall


def answered_sign(ctx: Context, session: Session, frame: int, sender: str) -> str:
    """Words for the packet that shows the stall's receiver heard on the control
    connection (frame: StalledTransfer.answered): its FIN, which the sender's own FIN
    acknowledges, or a packet the sender's ACK after its FIN answers."""
    control = ctx.by_uid.get(session.control_uid)
    if control is not None and frame in control.fin_frames:
        return (f"its FIN on the control connection reached {sender} ({sender}'s own FIN, "
                f"{frame_text(frame)}, acknowledges it)")
    return (f"a packet of it on the control connection reached {sender} ({sender}'s ACK in "
            f"{frame_text(frame)}, after its own FIN there, answers it)")


BOTH_HOSTS = "a capture on both hosts at once shows where the packets are lost"


def logs_remedy(conn: Connection, also: str = "", tells: str = BOTH_HOSTS) -> str:
    """The fix that looks for the device that lost the flow; also: more places to look;
    tells: the capture that would show more ("" when the capture set holds both hosts'
    points already: no advice to make it)."""
    where = f"; {tells}" if tells else ""
    return (f"See the session and event logs of the firewalls, NAT devices and IPSs between "
            f"{conn.orig_h} and {conn.resp_h}{also} at that time (a session dropped, a "
            f"failover, a blocked flow) and any routing change{where}.")


def flow_blocked(conn: Connection, heard: tuple[str, str], sign: str, reading: str,
                 blocking: tuple[str, str] | tuple[str], shows: str = "") -> tuple[str, str]:
    """(reading, remedy) of a stall whose receiver was heard after it (heard: its role
    words and address, ("the agent", "10.77.0.2"); `sign`: the words of what showed it;
    `reading`: the words before): it was up and reachable, so only this connection's
    packets were lost, by a device between the hosts or by a host firewall or IPS on
    `blocking`. One host: the one the capture shows (the data's receiver, which the
    resends do not reach, or its sender, which the ACKs do not), with `shows`, what a
    capture on it shows. Two, (the data's receiver, its sender), in a capture of one
    direction (Stall.unseen), which cannot tell them apart: the receiver's firewall
    dropping the sender's packets (the media server's nftables in
    v4-midjob-data-drop-at-media) leads, as a whole capture reads a receiver that never
    acknowledged; the sender's dropping the receiver's ACKs (the agent's in
    trial34-big/agent-input-drops-mid-transfer: it resends, the media server answers
    each with the same ACK) looks the same from either side, as does a device between
    them: all three are named, with the capture that tells them apart."""
    role, other = heard
    reading += (f" {capitalised(role)} {other} was still up and reachable after the data "
                f"stopped: {sign}, so only this connection's packets were lost: by a device "
                "between them, ")
    if len(blocking) == 1:
        blocked = blocking[0]
        return (reading + f"or by a host firewall or IPS on {blocked} that blocks this flow "
                f"(a capture on {blocked} shows whether {shows}).",
                logs_remedy(conn, f" and the host firewall and security software on "
                                  f"{blocked} (a rule or IPS that blocks this flow)"))
    receiver, sender = blocking
    port = conn.resp_p if receiver == conn.resp_h else conn.orig_p
    tells = f"a capture of both directions on {receiver} and {sender} at once tells them apart"
    return (reading + f"by a host firewall or IPS on {receiver} that drops {sender}'s "
            f"packets to its port {port}, or by one on {sender} that drops {receiver}'s ACKs "
            f"(its packets from port {port}); {tells}.",
            logs_remedy(conn, f" and the host firewall and security software on {receiver} "
                              f"(a rule or IPS that drops {sender}'s packets to port {port}) "
                              f"and on {sender} (one that drops {receiver}'s packets from "
                              f"port {port})", tells))


def data_stopped(conn: Connection, stall: Stall, roles: tuple[str, str], acked: int) -> str:
    """The head of a data connection's stall seen from its closer alone (acked_before):
    its ACKs acknowledge `acked` B of the other side's data, then no more, and its FIN,
    resent, was never answered: nothing new of the other side's reached it, while its own
    packets still went out. Whether the other side's packets stopped arriving or the
    closer's ACKs stopped reaching it (it resends then, and the closer answers each resend
    with the same ACK) the capture cannot show (v4-midjob-established-drop-at-agent cut
    to the media server's packets: the agent's firewall dropped the ACKs)."""
    closer, other = conn.host(stall.side), conn.host(other_direction(stall.side))
    return (f"The data connection {connection_ends(conn)} stopped delivering: "
            f"{roles[0]} {closer}'s ACKs acknowledge {acked:,} B of {roles[1]} {other}'s data on "
            "it, then no more, "
            f"and its FIN, sent again and again ({stall.resends} retransmissions, the last in "
            f"{frame_text(stall.frame)}), was never answered. The capture holds no packet of "
            f"{other} on this connection (one direction captured), but {closer}'s ACKs show "
            f"what reached it: nothing new of {other}'s data after those {acked:,} B, and no "
            f"answer to {closer}'s FIN. Whether {other}'s packets stopped arriving or "
            f"{closer}'s ACKs stopped reaching {other} cannot be seen without that direction; "
            "either way the path stopped delivering the connection.")
