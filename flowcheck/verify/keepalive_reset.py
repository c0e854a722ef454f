"""A control connection reset by its own side's TCP after its keepalive probes went
unanswered (flowcheck.ndmp.keepalive; control_reset).

A TCP with keepalives on probes an idle connection and, when no probe is answered,
gives the connection up after the last one (RFC 1122 4.2.3.6; Linux then sends a RST).
So a RST that follows unanswered probes of its own side is no service closing the
session and no device's reset: the peer, or the path to it, stopped answering while the
connection sat idle. When another connection between the same hosts went on carrying the
peer's data through the probes, the peer was up and reachable: a firewall or NAT device
between them dropped the control connection's packets, having dropped its state after an
idle timeout shorter than the silence before the first probe (field check 42: it read
"one side gave the session up (the job was cancelled, or an error on its side)" and asked
for keepalives that were already on).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Connection, ControlPacket, NdmpStream, other_direction
from flowcheck.verify.context import Context
from flowcheck.verify.reset_answer import silence_before

# Probes before the RST that make the keepalive reading: one unanswered probe and a RST
# may be anything; a TCP gives up only after several (Linux 9 by default, Windows 10).
MIN_PROBES = 2


def keepalive_probes(stream: NdmpStream, side: str) -> list[ControlPacket]:
    """The unanswered keepalive probes of `side` ("orig", "resp") just before the
    connection's first RST, that side's; [] when fewer than MIN_PROBES."""
    reset = stream.reset
    probes = stream.probes_before_reset
    if reset is None or reset.direction != side or len(probes) < MIN_PROBES:
        return []
    return probes


def _peer_alive(ctx: Context, control: Connection, peer: str,
                probes: list[ControlPacket]) -> Connection | None:
    """Another connection between the control connection's two hosts that carried data
    from before the first probe until after the last, with packets of the peer's on it
    (its data, or its ACKs of the other's: a sender gets no further without them): the
    peer was up and reachable."""
    hosts = {control.orig_h, control.resp_h}
    for conn in ctx.connections:
        if conn.uid == control.uid or {conn.orig_h, conn.resp_h} != hosts:
            continue
        packets = conn.orig_pkts if conn.orig_h == peer else conn.resp_pkts
        if (packets and conn.orig_bytes + conn.resp_bytes and conn.ts <= probes[0].ts
                and conn.last_ts >= probes[-1].ts):
            return conn
    return None


def keepalive_words(ctx: Context, stream: NdmpStream, control: Connection, side: str,
                    names: tuple[str, str]) -> tuple[str, str, list[int]] | None:
    """(words for the message, the fix, the probes' frames) for a RST of `side` after
    its unanswered keepalive probes; None when there were none. names: (the RST's side,
    the peer), as "the media server 10.77.0.1"."""
    probes = keepalive_probes(stream, side)
    if not probes:
        return None
    host, peer = control.host(side), control.host(other_direction(side))
    silence = silence_before(stream, probes[0].ts, probes[0].frame)
    idle = (f"after {span_words(silence.seconds)} of silence"
            + (f", no NDMP message since {frame_text(silence.after.frame)}"
               if silence.after is not None else "") if silence.seconds else "")
    frames = [p.frame for p in probes]
    listed = frames_words(frames, ranges=False, plural=True)
    text = (f" Before it {names[0]} sent {len(probes)} TCP keepalive probes ("
            f"{listed}, over {span_words(probes[-1].ts - probes[0].ts)}; the first "
            f"{idle or 'while the connection was idle'}) and {names[1]} "
            f"answered none: {host}'s TCP gave the connection up after its last probe and "
            f"reset it (RFC 1122 4.2.3.6): its probes no longer reached {peer}, or "
            f"{peer}'s answers no longer came back.")
    alive = _peer_alive(ctx, control, peer, probes)
    path = f"{control.orig_h} and {control.resp_h}"
    if alive is not None:
        text += (f" {peer} was most likely up and reachable then: {alive.uid} between the "
                 f"same hosts carried data from before the first probe until after the "
                 "last; so "
                 "a firewall or NAT device between them dropped the control connection's "
                 "packets, most likely having dropped its state after an idle timeout "
                 "shorter than the silence before the first probe, as the control "
                 "connection sits idle while the data flows.")
        fix = (f"Set the TCP keepalive time on {host} (its first probe came after "
               f"{span_words(silence.seconds)} of silence) and on the other host "
               f"{_below_idle_timeout(control)}; their session logs show the connection "
               "dropped at that time.")
    else:
        text += (f" Either {peer} went down or became unreachable, or a firewall or NAT "
                 "device between them dropped the connection's state after an idle "
                 "timeout shorter than the silence before the first probe.")
        fix = (f"Check that {peer} was up and reachable at that time (its system log, its "
               f"link); then set the TCP keepalive time on both hosts below the idle "
               f"timeout of the firewalls and NAT devices between {path}, or raise that "
               f"timeout for port {control.resp_p} above the longest job's duration.")
    return text, fix, frames


def _below_idle_timeout(control: Connection) -> str:
    """The keepalive fix's common part: the setting below the devices' idle timeout, or
    that timeout raised."""
    return (f"below the idle timeout of the firewalls and NAT devices between "
            f"{control.orig_h} and {control.resp_h} (the backup application's and the NDMP "
            "server's keepalive settings, or the system's: KeepAliveTime on Windows, "
            "net.ipv4.tcp_keepalive_time on Linux), or raise that timeout for port "
            f"{control.resp_p} above the longest job's duration (and on the hosts' own "
            "firewalls)")


def probe_answer_words(stream: NdmpStream, control: Connection, side: str,
                       names: tuple[str, str], ttl_words: str
                       ) -> tuple[str, str, list[int]] | None:
    """(words, fix, frames) for a RST of `side` that answered the other side's keepalive
    probe (NdmpStream.probe_reset: the packet just before it); None when it did not.
    ttl_words: what the RST's TTL says of its sender, or "" (field check 42: a firewall
    that had dropped the idle connection's state answered the media server's first probe
    with a reset in the agent's name; it read "one side gave the session up")."""
    probe, reset = stream.probe_reset, stream.reset
    if probe is None or reset is None or probe.direction == side:
        return None
    prober = control.host(probe.direction)
    silence = silence_before(stream, probe.ts, probe.frame)
    idle = (f" after {span_words(silence.seconds)} of silence (no NDMP message since "
            f"{frame_text(silence.after.frame)})" if silence.seconds and silence.after is not None
            else "")
    text = (f" The RST answered {names[1]}'s TCP keepalive probe ({frame_text(probe.frame)}, "
            f"{span_words(max(0.0, reset.ts - probe.ts))} before it){idle}: an idle "
            "connection's keepalive, which a side that still has the connection "
            "acknowledges." + ttl_words
            + (" A firewall or NAT device that drops an idle connection's state after its "
               "idle timeout answers the next packet with a reset: the probe came too late "
               "to keep the state."))
    fix = (f"Set the TCP keepalive time on {prober}" + (
           f" (its probe came after {span_words(silence.seconds)} of silence)"
           if silence.seconds else "")
           + f" and on the other host {_below_idle_timeout(control)}; if no device keeps "
           f"the connection's state, see {names[0]}'s system log at that time (a "
           "restart).")
    return text, fix, [probe.frame]
