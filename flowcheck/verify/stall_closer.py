"""A data connection's stall seen from one side alone (a capture of one direction):
what the closer's own ACKs show of the other side's data (stall_receiver.acked_before),
and the packet that shows the other side still heard after the data stopped
(stall_receiver.answered_after), in words; the fix that follows them
(flowcheck.verify.stalled_transfer, data_stalled). v4-midjob-data-drop-at-media cut to
the media server's packets read "never carried data" and "check that the agent is up"
though its ACKs acknowledged 699,568 B and the agent's FIN reached it after.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session, connection_ends
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
                f"frame {frame}, acknowledges it)")
    return (f"a packet of it on the control connection reached {sender} ({sender}'s ACK in "
            f"frame {frame}, after its own FIN there, answers it)")


def flow_blocked(conn: Connection, heard: tuple[str, str], hosts: tuple[str, str], sign: str,
                 reading: str) -> tuple[str, str]:
    """(reading, remedy) of a stall in a capture of one direction (Stall.unseen) whose
    other side was heard after it (heard: its role words and address, ("the agent",
    "10.77.0.2"); `sign`: the words of what showed it): only this connection's packets
    were lost, one way or the other, which the capture cannot tell. The data's
    receiver's host firewall dropping the sender's packets (the media server's nftables
    in v4-midjob-data-drop-at-media) leads, as a whole capture reads a receiver that
    never acknowledged; the sender's dropping the receiver's ACKs (the agent's in
    trial34-big/agent-input-drops-mid-transfer: it resends, the media server answers
    each with the same ACK) looks the same from either side, as does a device between
    them: all three are named, with the capture that tells them apart. hosts: (the
    data's receiver, its sender); `reading`: the words before (what heard's words
    follow)."""
    receiver, sender = hosts
    role, other = heard
    port = conn.resp_p if receiver == conn.resp_h else conn.orig_p
    tells = f"a capture of both directions on {receiver} and {sender} at once tells them apart"
    return (reading + f" {capitalised(role)} {other} was still up and reachable after "
            f"the data stopped: {sign}, so only this connection's packets were lost: by a "
            f"device between them, by a host firewall or IPS on {receiver} that drops "
            f"{sender}'s packets to its port {port}, or by one on {sender} that drops "
            f"{receiver}'s ACKs (its packets from port {port}); {tells}.",
            f"See the session and event logs of the firewalls, NAT devices and IPSs between "
            f"{conn.orig_h} and {conn.resp_h} and the host firewall and security software on "
            f"{receiver} (a rule or IPS that drops {sender}'s packets to port {port}) and on "
            f"{sender} (one that drops {receiver}'s packets from port {port}) at that time (a "
            f"session dropped, a failover, a blocked flow) and any routing change; {tells}.")


def data_stopped(conn: Connection, stall: Stall, roles: tuple[str, str], acked: int) -> str:
    """The head of a data connection's stall seen from its closer alone (acked_before):
    its ACKs acknowledge `acked` B of the other side's data, then no more, and its FIN,
    resent, was never answered: nothing new of the other side's reached it, while its own
    packets still went out. Whether the other side's packets stopped arriving or the
    closer's ACKs stopped reaching it (it resends then, and the closer answers each resend
    with the same ACK) the capture cannot show (v4-midjob-established-drop-at-agent cut
    to the media server's packets: the agent's firewall dropped the ACKs)."""
    closer, other = ((conn.orig_h, conn.resp_h) if stall.side == "orig"
                     else (conn.resp_h, conn.orig_h))
    return (f"The data connection {connection_ends(conn)} stopped delivering: "
            f"{roles[0]} {closer}'s ACKs acknowledge {acked} B of {roles[1]} {other}'s data on "
            "it, then no more, "
            f"and its FIN, sent again and again ({stall.resends} retransmissions, the last in "
            f"frame {stall.frame}), was never answered. The capture holds no packet of "
            f"{other} on this connection (one direction captured), but {closer}'s ACKs show "
            f"what reached it: nothing new of {other}'s data after those {acked} B, and no "
            f"answer to {closer}'s FIN. Whether {other}'s packets stopped arriving or "
            f"{closer}'s ACKs stopped reaching {other} cannot be seen without that direction; "
            "either way the path stopped delivering the connection.")
