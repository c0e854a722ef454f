"""What ended a control connection, read from its last packets: the packet its RST
answered, whether that RST came faster than the round trip to its sender's side, and how
long the connection had sat idle before the exchange it cut (control_reset, control_stalled).

A TCP with no state for a connection answers its next segment with a RST that carries no
ACK (RFC 9293 3.10.7.1: <SEQ=SEG.ACK><CTL=RST>); a firewall or NAT device that dropped
the connection's state does the same in the peer's name ("reject with tcp reset"). A RST
from the peer itself takes the whole round trip between the capture point and the peer;
one that comes in less than half the round trip the handshake measured to that side came
from a device between them, unless that side had closed the connection first (its own
FIN before the RST): its TCP then answers the connection's later packets itself, as fast
as it answers a SYN (a LAN's round trip is tens of microseconds, mostly the hosts' own
time), so the RST is its own, whatever its speed. The RST's IP TTL settles it when it
differs from that of its side's own packets (a device's, whatever its speed or a FIN
before it) and keeps the timing from claiming a device when it is the same
(flowcheck.verify.ttl). The control connection sits idle while
the data flows: a device that drops an idle connection's state after its idle timeout
drops its next packets (control_stalled) or answers them with a reset (control_reset).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, ControlPacket, NdmpMessage, NdmpStream
from flowcheck.verify.ttl import reset_ttls

if TYPE_CHECKING:
    from flowcheck.verify.context import Context

FIN, ACK = 0x01, 0x10

# A silence on the control connection at least this long before the exchange whose
# packets were then lost or answered by a reset reads as an idle timeout (trial 10: a
# 3 s conntrack timeout let 8 s of silence end the job; ndmjob polls about every 30 s).
IDLE_SECONDS = 5.0
# A reset that answered nothing (a device's own reset when its timer ends, or a side
# that gave up) reads as an idle timeout after this long a silence: 30 s timeouts are
# real, and a side that gives up does so soon after a message.
IDLE_BEFORE_RESET_SECONDS = 25.0
# The messages of one exchange (a request, its reply, the notifications it causes) come
# well within this of each other; a longer silence ends the exchange.
EXCHANGE_GAP_SECONDS = 2.0


@fields_dataclass(slots=True, frozen=True)
class Answer:
    """A RST that answered a packet of the control connection instead of acknowledging
    it. by: the side the RST came from, or in whose name ("orig", "resp"); packet: the
    packet answered (payload its receiver never acknowledged, or a FIN); message: the
    NDMP message it carried (None for a FIN); delay: seconds from it to the RST;
    round_trip: the handshake's round trip from the capture point to the RST's side
    (seconds; None when the handshake does not tell it); closed: the RST's side's own FIN
    before it (closed_before_reset), None when none; ttls: (the RST's IP TTL, that of its
    side's own packets then), None when either is unknown (verify.ttl.reset_ttls)."""

    by: str
    packet: ControlPacket
    message: NdmpMessage | None
    delay: float
    round_trip: float | None
    closed: ControlPacket | None = None
    ttls: tuple[int, int] | None = None

    @property
    def fast(self) -> bool:
        """Faster than half the round trip to the RST's side, which had not closed the
        connection itself."""
        return (self.closed is None and self.round_trip is not None
                and self.delay < self.round_trip / 2)

    @property
    def forged(self) -> bool:
        """The RST's TTL differs from its side's own packets': a device sent it in that
        side's name, however fast or after whatever."""
        return self.ttls is not None and self.ttls[0] != self.ttls[1]

    @property
    def same_ttl(self) -> bool:
        """The RST's TTL is its side's own packets': the side's own system sent it."""
        return self.ttls is not None and self.ttls[0] == self.ttls[1]

    @property
    def in_between(self) -> bool:
        """A device between sent it: its TTL says so, or it came fast (`fast`) and its
        TTL does not say the side's own."""
        return self.forged or (self.fast and not self.same_ttl)


@fields_dataclass(slots=True, frozen=True)
class Silence:
    """The silence before an exchange: seconds (0.0 when none of EXCHANGE_GAP_SECONDS),
    after (the NDMP message it followed, None when none) and ended (the frame of the
    message or packet that ended it; 0 when none)."""

    seconds: float
    after: NdmpMessage | None
    ended: int


def reset_answer(ctx: Context, stream: NdmpStream, conn: Connection) -> Answer | None:
    """The packet the control connection's first RST answered: the packet just before it
    (NdmpStream.before_reset), from the other side, carrying payload its receiver never
    acknowledged (Connection.orig_unacked / resp_unacked; or, in a capture that holds
    nothing of the RST's side but its RSTs, only_resets, no ACK of it at all) or a FIN,
    the RST carrying no ACK (a TCP that has the connection and aborts it acknowledges
    what it got); None when the RST answered nothing so."""
    reset, before = stream.reset, stream.before_reset
    if reset is None or before is None or before.direction == reset.direction \
            or reset.flags & ACK:
        return None
    if before.payload:
        if not (conn.orig_unacked if before.direction == "orig" else conn.resp_unacked) \
                and not only_resets(conn, reset.direction):
            return None
        message = next((m for m in reversed(stream.messages)
                        if m.direction == before.direction and m.frame <= before.frame), None)
    elif before.flags & FIN:
        message = None
    else:
        return None
    return Answer(reset.direction, before, message, max(0.0, reset.ts - before.ts),
                  round_trip_to(conn, reset.direction), closed_before_reset(stream),
                  reset_ttls(ctx, conn, reset.direction))


def only_resets(conn: Connection, side: str) -> bool:
    """The capture holds no packet of the connection's `side` ("orig", "resp") but RSTs:
    its history letters (Zeek's: upper case the originator's, lower case the
    responder's) are its R alone. Its ACKs are then unknown to the connection engine,
    which leaves the peer's unacked bytes 0 (Connection.orig_unacked: one direction
    captured reads unknown), but the side's direction is captured (its RST is): nothing
    in the capture acknowledged the peer's data. A capture that starts mid-connection
    just before the connection's last exchange holds that alone (a packet, then a RST in
    the peer's name answering it; the idle-rst-agent capture cut to its last half)."""
    letters = {letter for letter in conn.history
               if letter.isalpha() and letter.isupper() == (side == "orig")}
    return letters == {"R" if side == "orig" else "r"}


def closed_before_reset(stream: NdmpStream) -> ControlPacket | None:
    """The FIN the side that sent the control connection's first RST had sent before it
    (the connection's first FIN, from that side, earlier frame); None when none. A side
    that closed the connection (its process ended: the system closes its sockets) answers
    the peer's later packets with a RST of its own (RFC 9293 3.10.7.1; RFC 1122 4.2.2.13:
    data received after CLOSE): the RST is the consequence, the FIN the cause. Devices
    between the hosts reset connections, they do not close them."""
    reset, fin = stream.reset, stream.fin
    if reset is None or fin is None or fin.direction != reset.direction \
            or fin.frame >= reset.frame:
        return None
    return fin


def round_trip_to(conn: Connection, side: str) -> float | None:
    """Seconds from the capture point to `side` ("orig", "resp") and back, from the
    handshake: SYN to SYN-ACK for the responder, SYN-ACK to its ACK for the originator;
    None when a SYN or SYN-ACK was resent or a time is missing."""
    if (conn.syn_retries or len(conn.synack_frames) != 1 or conn.syn_ts is None
            or conn.synack_ts is None or conn.rtt is None):
        return None
    to_resp = conn.synack_ts - conn.syn_ts
    seconds = to_resp if side == "resp" else conn.rtt - to_resp
    return seconds if seconds > 0 else None


def silence_before(stream: NdmpStream, until: float, frame: int) -> Silence:
    """The silence before the exchange that ends at `until` (seconds, capture clock; its
    packet's `frame`): going back from it over the NDMP messages, the first gap of
    EXCHANGE_GAP_SECONDS or more. The silence that let a device's state expire is the one
    just before the packets it then dropped or reset (an earlier long one would have
    ended the connection then)."""
    t, ended = until, frame
    for message in reversed(stream.messages):
        if message.ts > until:
            continue
        if t - message.ts >= EXCHANGE_GAP_SECONDS:
            return Silence(t - message.ts, message, ended)
        t, ended = message.ts, message.frame
    return Silence(0.0, None, 0)


def silence_words(silence: Silence) -> str:
    """"29.5 s (no NDMP message from frame 173 to frame 2070)"."""
    where = (f" (no NDMP message from {frame_text(silence.after.frame)} to "
             f"{frame_text(silence.ended)})" if silence.after is not None else "")
    return f"{span_words(silence.seconds)}{where}"


def idle_timeout_fix(control: Connection) -> str:
    """The fix for a control connection a firewall's or NAT's idle timeout ended."""
    return (f"Raise the TCP idle timeout for port {control.resp_p} on the firewalls and NAT "
            f"devices between {control.orig_h} and {control.resp_h} (and on the hosts' own "
            "firewalls) above the longest job's duration, or enable TCP keepalives on the "
            "media server and the agent (the backup application's and the NDMP server's "
            "keepalive settings) at an interval shorter than that timeout")
