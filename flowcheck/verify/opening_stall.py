"""control_stalled for a control connection that stalled at its first bytes: its
handshake in the capture, then one side's first message (the agent's greeting
NDMP_NOTIFY_CONNECTED, or the media server's first request) resent and never
acknowledged, the other side sending nothing (field check trial 34 D4: the media server
dropping every non-SYN packet to its media range, which holds its own control
connection's source port, read `step_missing` for the callback with a capture-filter
hint). No job started on it, so flowcheck.verify.running judges it without one; the
later steps are not reached (`not_applicable`: "the session stopped before it could
come", Context.not_due), not missing: nothing after the opening was due; a capture that
ended with the connection still open, its first bytes still resent, leaves them
`unknown` (a later resend may have got through: trial 34's capture, 7.3 s long).

Where the capture was taken. Linux cooked marks that prove it taken on the receiver
(verify.capture_host.proven_host, `marked`) prove the dropped packets reached it: its
own firewall dropped them, no device between (lab matrix seed 124 run 22: `tcpdump -i
any` on the media server, the agent's greeting arriving there six times, read "If this
capture was taken on fd77::1"). Proven taken on the sender (marks or TTLs), a capture on
the receiver is what tells; TTLs alone that name the receiver leave its segment open (a
bridge firewall in front of it), so the conditional words stay.
"""

from __future__ import annotations

from flowcheck.model import (
    Connection,
    NdmpMessage,
    NdmpStream,
    Said,
    Session,
    connection_ends,
    other_direction,
)
from flowcheck.sessions.classify import seen_closing, stale_answer
from flowcheck.verify.ack_unheard import WINDOWS_STATEFUL
from flowcheck.verify.allow_rules import return_ports, rule_allows
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.capture_host_proof import CaptureHostProof
from flowcheck.verify.context import Context
from flowcheck.verify.established_accept import established_accept
from flowcheck.verify.lost_fin import lost_close
from flowcheck.verify.stalled import Stall, handshake_only, stall_words, unacked_words


def opening_stalled(control: Connection, stall: Stall) -> bool:
    """Did the control connection stall from its opening on: its handshake in the
    capture (handshake_shown), the stall's bytes never acknowledged (not ACKs lost on the
    way, nor a capture of one direction, nor a FIN), the other side sending no payload
    byte, and the stalled side no more than those bytes, resends included (each resend
    carries at most them: nothing of it was acknowledged before)?"""
    if not handshake_shown(control) or stall.fin or stall.acks_lost or stall.lost:
        return False
    other = other_direction(stall.side)
    if stall.unseen:
        return _unseen_opening(control, stall, other)
    if stall.unacked <= 0:
        return False
    return (not control.sent_once(other)
            and control.sent_once(stall.side) <= stall.unacked * (stall.resends + 1))


def _unseen_opening(control: Connection, stall: Stall, other: str) -> bool:
    """opening_stalled for a capture of the stalled side's packets only (Stall.unseen: its
    resends, each after a retransmission timeout, show no ACK reached it): everything it
    sent is its first segment, sent and resent (its payload no more than its latest
    resend's length times the sends), and its own ACKs show that nothing of the other
    side's reached it but the handshake and at most a FIN (the other side's bytes they
    acknowledge: 1 for a FIN, which cannot be told from a byte, and an NDMP message holds
    28 B or more). Lab matrix seed 57 run 20: the agent's greeting resent 8 times, never
    acknowledged, captured `-Q out` on the agent, read inconclusive."""
    evidence = control.evidence(stall.side)
    acked = control.resp_acked_unseen if other == "resp" else control.orig_acked_unseen
    return (0 < control.sent_once(stall.side) <= evidence.resent_len * (stall.resends + 1)
            and not control.sent_once(other) and acked <= 1)


# Zeek history letters of each side going on after the handshake (ACK, data, FIN), as
# flowcheck.verify.openings reads them.
_ORIG_WENT_ON, _RESP_WENT_ON = frozenset("ADF"), frozenset("adf")


def handshake_shown(control: Connection) -> bool:
    """Does the capture show the connection's opening: its SYN and SYN-ACK, or one of them
    and the other proven by the packets after it (flowcheck.verify.openings: the
    responder ACKs, sends or closes after the SYN only once it accepted the connection,
    not a stale socket's ACK, classify.stale_answer; the originator after the SYN-ACK
    only once it got it)? Lab matrix seed 58 run 9: the sniffer lost the SYN-ACK of a
    control connection whose agent's greeting was resent 8 times, never acknowledged, and
    it read as a port check that passed."""
    if control.syn_seen and control.synack_seen:
        return True
    if control.syn_seen:
        return not _RESP_WENT_ON.isdisjoint(control.history) and not stale_answer(control)
    # The SYN-ACK answers a SYN; the originator's ACK, data or FIN after it, or the
    # responder's data (its application sends only on a connection accepted, the
    # originator's ACK received: a capture of the responder's packets only, lab matrix
    # seed 57 run 20), prove the handshake's end.
    return control.synack_seen and (not _ORIG_WENT_ON.isdisjoint(control.history)
                                    or control.sent_once("resp") > 0)


def report_opening_stall(ctx: Context, session: Session, stream: NdmpStream,
                         control: Connection, stall: Stall, last: NdmpMessage | None) -> None:
    """control_stalled for opening_stalled: the head as every stall's (stall_words), the
    reading of packets dropped after the SYN towards the receiver (a rule for SYN only,
    a stateful firewall on an asymmetric route), the fix on the receiver's input chain
    and the firewalls between; the session's later steps not reached (Context.silent_peer,
    not_due) when the capture shows the control connection close (a FIN or RST, or one
    its sequence numbers show: lost_close), else unknown (the capture ended first)."""
    roles = (("the media server", "the agent") if stall.side == "orig"
             else ("the agent", "the media server"))
    sender, receiver = control.host(stall.side), control.host(other_direction(stall.side))
    # An unseen stall (one direction captured) knows its bytes from the resends alone.
    size = (control.evidence(stall.side).resent_len if stall.unseen else stall.unacked)
    what = (f"its first {size:,} B ({unacked_words(stream, stall, last)})"
            if last is not None else f"its first {size:,} B")
    answer, back_to = return_ports(ctx, control)
    if stall.side == "resp":  # the originator's side drops: towards its source ports
        towards = f"TCP from {control.resp_h} {answer} to {control.orig_h} {back_to}"
    else:
        towards = f"TCP from {control.orig_h} {back_to} to {control.resp_h} {answer}"
    on = proven_host(ctx, receiver, sender)
    own = on is not None and on.host == receiver and on.marked
    where = (f"a rule on {receiver} that" if own else
             f"a rule on {receiver} or on a firewall between them that")
    route = ("" if own else ", or a stateful firewall on an asymmetric route that sees one "
             "direction of the connection")
    message = (
        stall_words("control", control, roles, stall, what)
        + f" It stalled at its first bytes, right after the handshake: {roles[1]} "
        f"{receiver} {_silent_words(stall, sender)}, so no "
        "NDMP session opened and the job could not begin (no callback or announcement "
        f"was due). The handshake's packets passed and {_dropped_words(control, stall, receiver)}: "
        f"{where} lets in SYNs only (one matching `tcp flags syn`, or dropping a port range "
        "with no accept of established connections ahead of it: a range that holds the "
        f"connection's own port on {receiver} drops its replies too){route}."
        + _taken_words(on, receiver, sender))
    accept = ("accept established connections ahead of any drop "
              f"{established_accept('input', windows=WINDOWS_STATEFUL)}, or allow "
              f"{towards} whatever its flags")
    fix = (f"On {receiver} (its input chain), where this capture was taken and the packets "
           f"arrived, {accept}. {INGRESS_WORDS}" if own else
           f"On {receiver} (its input chain) and on any firewall between the hosts, "
           f"{accept}; a stateful firewall between them must see both directions. "
           + (f"A capture on {receiver} shows whether the packets reach it."
              if on is not None and on.host == sender else
              "A capture on both hosts at once shows where the packets are lost."))
    ctx.add("control_stalled", message, fix, session=session, conn=control,
            frames=sorted({*control.syn_frames, *control.synack_frames,
                           *([last.frame] if last is not None else []),
                           *([stall.first_frame] if stall.first_frame else []),
                           *([stall.frame] if stall.frame else [])}),
            ts=last.ts if last is not None else control.ts, cause="control",
            allows=rule_allows(control, noted="drop"))  # established_accept's note
    # Not reached only once the capture shows the session stop (docs/json.md `status`):
    # a capture that ended with the connection still open, its first bytes still being
    # resent, cannot show that no later resend got through and the job went on.
    closed = _close_shown(control, stall, stream)
    how = ("the control connection stalled at its first bytes" if closed else
           "the capture ended with the control connection still open, stalled at its first "
           "bytes")
    ctx.silent_peer[session.id] = Said(
        f"{how}: {roles[0]}'s were never acknowledged ({connection_ends(control)}, "
        "control_stalled)", ["control_stalled"])
    if closed:
        ctx.not_due.add(session.id)
        ctx.silence_cut.discard(session.id)
    else:
        ctx.silence_cut.add(session.id)


def _close_shown(control: Connection, stall: Stall, stream: NdmpStream) -> bool:
    """Does the capture show the stalled control connection close: a FIN or RST either
    way, a FIN its sequence numbers show (lost_close), or, the receiver's packets not
    captured (Stall.unseen), the sender's ACK of one sequence number past the receiver's
    handshake, which only its FIN takes (_unseen_opening: an NDMP message holds 28 B or
    more; lab matrix seed 57 run 20, `-Q out` on the agent)?"""
    if seen_closing(control) or lost_close(control, stream) is not None:
        return True
    other = other_direction(stall.side)
    acked = control.resp_acked_unseen if other == "resp" else control.orig_acked_unseen
    return stall.unseen and acked == 1


def _taken_words(on: CaptureHostProof | None, receiver: str, sender: str) -> str:
    """Where the capture was taken, as far as it shows (module docstring): on the
    receiver by its Linux cooked marks (its own firewall dropped the packets), on the
    sender (a capture on the receiver tells), else the condition."""
    if on is not None and on.host == receiver and on.marked:
        return (f" This capture was taken on {receiver} ({on.words}): the packets reached "
                "it (a capture sees arriving packets before the host's firewall), so its "
                "own firewall dropped them, not a device between them.")
    if on is not None and on.host == sender:
        return (f" This capture was taken on {sender} ({on.shown}): a capture on "
                f"{receiver} shows whether the packets reach it.")
    return (f" If this capture was taken on {receiver}, the packets reached it (a capture "
            "sees arriving packets before the host's firewall): its own firewall dropped "
            "them.")


# The own firewall's hooks ahead of its input chain, after the capture point: a packet
# socket sees a frame before an nft netdev table's ingress chain and a tc ingress filter
# do (review 54h: an nft netdev drop of every non-SYN packet from the NDMP port,
# `tcpdump -i any` on the media server, fixed in the input chain alone). No connection
# state is known there.
INGRESS_WORDS = ("A drop ahead of the input chain acts after a capture too (an nft netdev "
                 "table's ingress chain, a tc ingress filter: nft list ruleset; tc filter "
                 "show dev IFACE ingress), where no connection state is known: allow the "
                 "same packets there whatever their flags.")


def _silent_words(stall: Stall, sender: str) -> str:
    """What the stall's receiver did: as the capture shows it, or (an unseen stall) as the
    sender's own ACKs and resends show it."""
    if stall.unseen:
        return (f"sent nothing that reached {sender} but the handshake and at most a FIN "
                f"({sender}'s ACKs acknowledge no more)")
    return f"acknowledged nothing of {sender}'s and sent nothing itself"


def _dropped_words(control: Connection, stall: Stall, receiver: str) -> str:
    """Which later packets were lost: every one towards the receiver, or (an unseen stall,
    the receiver's packets not captured) those or the receiver's ACKs on the way back."""
    if stall.unseen:
        return (f"every later one towards {receiver} was dropped, or {receiver}'s ACKs on "
                "the way back (the capture lacks "
                + ("them" if handshake_only(control, other_direction(stall.side))
                   else "that direction") + ")")
    return f"every later one towards {receiver} was dropped"
