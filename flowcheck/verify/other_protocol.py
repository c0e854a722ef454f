"""Another protocol on the NDMP port, told once per pair of hosts (ndmp_undecodable).

A connection to the NDMP port that speaks another protocol both ways, or whose client
opened with another protocol's request (flowcheck.sessions.other_protocol: HTTP of a
Webmin on 10000, TLS, SSH), is no NDMP session and is not judged. Its decode findings
(each direction's "not NDMP", two or more per connection) are folded into one
`ndmp_undecodable` warning per originator, responder and port, which names the
protocol, the first bytes each way and the program likely behind it (trial 23 D1: a
night's 46 Webmin fetches gave 184 decode warnings and 46 FAILED sessions).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from operator import attrgetter
from typing import TYPE_CHECKING

from flowcheck.config import Config
from flowcheck.findings import make_finding
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Allows, Connection, Finding, NdmpStream, Session, endpoint
from flowcheck.sessions.other_protocol import (
    could_start_ndmp,
    opening_words,
    other_protocol,
)
from flowcheck.sessions.unheard_ack import ack_unheard
from flowcheck.verify.other_stall import stall_note

if TYPE_CHECKING:
    from flowcheck.connections.cooked_hosts import HostMarks

# The decode findings a stream of another protocol gives, folded into the group's one.
_DECODE_CODES = frozenset({"ndmp_undecodable", "ndmp_partial", "ndmp_vendor_message"})

Group = list[tuple[Connection, str]]


def other_protocol_groups(connections: list[Connection], streams: list[NdmpStream],
                          ) -> dict[tuple[str, str, int], Group]:
    """The connections to the NDMP port (or tapped as NDMP) that speak another protocol
    (both ways, or as its client), with that protocol, by (originator, responder,
    responder's port), in time order; not a control connection in TLS from its first
    byte proven the job's (sessions.tls_start: role "control")."""
    stream_by_uid = {s.uid: s for s in streams}
    groups: dict[tuple[str, str, int], Group] = defaultdict(list)
    # Only a connection with a decoded stream can carry another protocol
    # (sessions.other_protocol): those alone are sorted, in the same order.
    tapped = [c for c in connections if c.uid in stream_by_uid and c.role != "control"] \
        if streams else []
    for conn in sorted(tapped, key=attrgetter("ts", "first_frame")):
        protocol = other_protocol(conn, stream_by_uid.get(conn.uid))
        if protocol is not None:
            groups[(conn.orig_h, conn.resp_h, conn.resp_p)].append((conn, protocol))
    return dict(groups)


def fold_other_protocols(findings: list[Finding], connections: list[Connection],
                         streams: list[NdmpStream], config: Config,
                         sessions: Sequence[Session] = (),
                         marks: HostMarks | None = None) -> list[Finding]:
    """The findings, the decode findings of connections that speak another protocol on
    the NDMP port replaced by one ndmp_undecodable per group (other_protocol_groups);
    `sessions` tell whose host the program's is (a media server's: nothing to change);
    `marks` (Traffic.host_marks) where the capture was taken (other_stall.stall_note)."""
    groups = other_protocol_groups(connections, streams)
    if not groups:
        return findings
    stream_by_uid = {s.uid: s for s in streams}
    folded = {conn.uid for group in groups.values() for conn, _ in group}
    first_frames: dict[str, list[int]] = defaultdict(list)
    first_times: dict[str, list[float]] = defaultdict(list)  # those frames' times
    kept = []
    for finding in findings:
        if finding.code in _DECODE_CODES and finding.uid in folded:
            first_frames[finding.uid] += finding.frames[:1]
            if finding.ts is not None and finding.frames:
                first_times[finding.uid].append(finding.ts)
        else:
            kept.append(finding)
    for uid in folded:  # each direction in TLS: one finding for both (ndmp.findings), each
        first_frames[uid] += stream_by_uid[uid].tls_from.values()  # direction's start told
    for (orig, resp, port), group in groups.items():
        kept.append(_group_finding(orig, resp, port, group, stream_by_uid, first_frames,
                                   first_times, config, not_agent(resp, config, sessions),
                                   marks))
    return kept


def not_agent(host: str, config: Config, sessions: Sequence[Session]) -> str:
    """Why `host` is no remote agent ("the configured media server", "the media server
    of session S1", "not among the configured remote agents (...)"); "" when it is one,
    or nothing tells."""
    if host in config.remote_agents or any(s.remote_agent == host for s in sessions):
        return ""
    if host in config.media_servers:
        return "the configured media server"
    named = next((s.id for s in sessions if s.media_server == host), None)
    if named:
        return f"the media server of session {named}"
    if config.remote_agents:
        return f"not among the configured remote agents ({', '.join(config.remote_agents)})"
    return ""


def _group_finding(orig: str, resp: str, port: int, group: Group,
                   stream_by_uid: dict[str, NdmpStream], first_frames: dict[str, list[int]],
                   first_times: dict[str, list[float]], config: Config,
                   not_agent: str, marks: HostMarks | None = None) -> Finding:
    """One ndmp_undecodable for the group; its time the earliest folded finding's (one
    of its frames), else the first connection's start."""
    first, _ = group[0]
    protocols = list(dict.fromkeys(protocol for _, protocol in group))
    carry = " or ".join(protocols)
    # Quoted: the first connection whose two sides the capture holds, else the first.
    quoted, quoted_protocol = next(((conn, protocol) for conn, protocol in group
                                    if _answered_other(stream_by_uid[conn.uid])), group[0])
    opening = stream_by_uid[quoted.uid].opening
    count = f"{len(group)} connections" if len(group) > 1 else "A connection"
    way = f" from {orig if len(group) > 1 else endpoint(orig, first.orig_p)} to " \
        f"{endpoint(resp, port)}"
    ndmp_port = " (the NDMP port)" if port == config.ndmp_port else ""
    webmin = " (Webmin, for one, listens on 10000 by default)" if port == 10000 else ""
    frames = sorted({f for conn, _ in group for f in first_frames.get(conn.uid, [])}
                    or {conn.first_frame for conn, _ in group})
    streams = [stream_by_uid[conn.uid] for conn, _ in group]
    answered = any(map(_answered_other, streams))
    # An NDMP server's messages to a client of another protocol (other_protocol: the
    # responder's alone), named once each.
    sent = list(dict.fromkeys(m.name.removeprefix("NDMP_") for st in streams
                              for m in st.messages))
    ndmp_server = bool(sent) and not answered
    program = (f"Another program answers on port {port} of {resp}{webmin}" if answered else
               f"A client of another program asked port {port} of {resp}{webmin}")
    carried = (f"carried {carry} from a client that is no DMA" if ndmp_server else
               f"carried {carry}, not NDMP")
    message = (f"{count}{way}{ndmp_port} {carried}: "
               + _openings_words(quoted, opening, quoted_protocol)
               + (f" and only {resp} sent NDMP ({', '.join(sent[:3])}). The NDMP server on "
                  f"{resp} was asked by a client of {carry} (a browser, a monitoring check), "
                  "not by a DMA: not a job's session, so not judged as one"
                  if ndmp_server else " and not one NDMP message decoded. ")
               + ("" if ndmp_server else
                  f"{program}, or the NDMP "
                  "server there encrypts its control connections with TLS (NDMP servers "
                  "can: NetApp ONTAP's secure control connection): flowcheck reads no NDMP "
                  "inside TLS, so it is not judged as a job"
                  if protocols == ["TLS"] else
                  f"{program}: not an NDMP session, so not judged as a job")
               + " (no steps, no callback expected).")
    commands = f"Windows: netstat -abno | findstr :{port}; Linux: ss -ltnp 'sport = :{port}'"
    see = f"see which program listens on TCP {port} on {resp} ({commands})"
    after_all = ("" if not_agent.startswith("the ") else
                 f" If {resp} is a remote agent after all, that program holds its NDMP port: "
                 "move it, or the agent's NDMP port (then --ndmp-port).")
    fix = (f"Nothing to change for the backup: a program on {orig} other than the DMA (a "
           f"browser or a monitoring check pointed at port {port}) spoke {carry} to the NDMP "
           f"server on {resp}; if such connections are unwanted, find and stop it there."
           if ndmp_server else
           f"Nothing to change for the backup: {resp} is {not_agent}, so port {port} there is "
           f"another program's (which one: {commands}).{after_all}" if not_agent else
           f"Nothing to change for the backup if {resp} is not a remote agent. If it is one, "
           + ("either its NDMP server encrypts the control connection (then nothing holds "
              "the port; for flowcheck to read a job, capture one with TLS off for the NDMP "
              "server's control connections) or "
              if protocols == ["TLS"] else "")
           + f"that program holds its NDMP port: {see} and move it, or the agent's NDMP port "
           "(then --ndmp-port).")
    unheard = [] if "resp" in opening or "orig" not in opening else ack_unheard(quoted)
    allows = None  # the fix's allow rule (Finding.allows): the path's, when unheard
    if unheard:  # the evidence _openings_words cites, and what it asks of the path
        frames = sorted({*frames, *([quoted.ack_frame] if quoted.ack_frame else []),
                         *unheard})
        fix += (f" Whichever it is, the packets after the SYN never reached {resp}: allow "
                f"TCP from {orig} to {endpoint(resp, port)} for established connections too, "
                f"inbound on {resp} and on any firewall between them (a rule for SYNs alone, "
                "or a stateful firewall that sees one direction, drops them).")
        allows = Allows((orig, resp))
    stalled = None if unheard or "orig" not in opening else stall_note(quoted, marks)
    if stalled is not None:  # TCP's own evidence, whatever the program (seed 112 run 43)
        message += stalled.words
        fix += stalled.fix
        frames = sorted({*frames, *stalled.frames})
    times = [t for conn, _ in group for t in first_times.get(conn.uid, [])]
    return make_finding("ndmp_undecodable", message, fix, uid=first.uid,
                        ts=min(times) if times else first.ts, frames=frames, allows=allows)


def _answered_other(stream: NdmpStream) -> bool:
    """Did the responder's start, in the capture, show another protocol (not NDMP)?"""
    return "resp" in stream.opening and not could_start_ndmp(stream.opening["resp"])


def _openings_words(conn: Connection, opening: dict[str, bytes], protocol: str) -> str:
    """What each side of `conn` opened with (sessions.other_protocol.other_protocol): both
    sides' bytes that cannot start an NDMP record; the originator's request of another
    protocol and what the capture holds of the responder's answer (none: its start not
    in the capture, or, its SYN-ACK resent after the originator's ACK with nothing
    acknowledged, sessions.unheard_ack.ack_unheard, no answer because the request never
    reached it: lab matrix seed 112 run 7); or, the originator's start not in the
    capture, the responder's answer to such a request."""
    orig, resp = conn.orig_h, conn.resp_h
    if "orig" not in opening:
        article = "an" if protocol[:1] in ("H", "S") else "a"  # an HTTP, an SSH, a TLS
        return (f"{resp} answered {article} {protocol} client's request "
                f"({opening_words(opening['resp'])}), which only such a request gets (the "
                f"start of {orig}'s bytes is not in the capture),")
    if "resp" in opening and not could_start_ndmp(opening["resp"]):
        return (f"both sides opened with bytes that cannot start an NDMP record ({orig}: "
                f"{opening_words(opening['orig'])}; {resp}: "
                f"{opening_words(opening['resp'])})")
    resent = [] if "resp" in opening else ack_unheard(conn)
    answer = (f"{resp} answered {opening_words(opening['resp'])}" if "resp" in opening else
              _unheard_words(conn, resent) if resent else
              f"the start of {resp}'s answer is not in the capture")
    return (f"{orig} opened as a client of {protocol} ({opening_words(opening['orig'])}), "
            f"where a DMA opens with an NDMP record ({answer}),")


def _unheard_words(conn: Connection, resent: list[int]) -> str:
    """"10.77.1.3 sent no byte: it resent its SYN-ACK 4 times (frames 658, 661, 665,
    668) after 10.77.0.1's ACK completing the handshake (frame 3), acknowledging none
    of 10.77.0.1's bytes: neither that ACK nor the request reached it, something on the
    way drops the packets after the SYN" (ack_unheard's evidence)."""
    frames = frames_words(resent, ranges=False)
    ack = f" ({frame_text(conn.ack_frame)})" if conn.ack_frame else ""
    return (f"{conn.resp_h} sent no byte: it resent its SYN-ACK {len(resent)} "
            f"time{'s' if len(resent) > 1 else ''} ("
            f"{frames}) after {conn.orig_h}'s ACK completing the handshake{ack}, "
            f"acknowledging none of {conn.orig_h}'s bytes: neither that ACK nor the request "
            "reached it, something on the way drops the packets after the SYN")


def encrypted_only(groups: dict[tuple[str, str, int], Group]) -> bool:
    """Did every connection of the groups carry TLS: perhaps the job's NDMP control
    connection, encrypted, rather than another program's?"""
    return bool(groups) and all(protocol == "TLS" for group in groups.values()
                                for _, protocol in group)


def asked_ndmp_servers(groups: dict[tuple[str, str, int], Group],
                       streams: list[NdmpStream]) -> bool:
    """Did an NDMP server answer every connection of the groups (its messages decoded,
    asked by a client of another protocol: sessions.other_protocol)?"""
    by_uid = {s.uid: s for s in streams}
    return bool(groups) and all(by_uid[conn.uid].messages for group in groups.values()
                                for conn, _ in group)


def other_protocol_words(groups: dict[tuple[str, str, int], Group],
                         ndmp_servers: bool = False) -> str:
    """For no_control_session: what the connections to the NDMP port carried instead
    ("the 3 connections to the NDMP port (10.77.0.1 -> 10.77.0.9:10000) carried HTTP,
    not NDMP (ndmp_undecodable)"; with `ndmp_servers`, every one answered by an NDMP
    server: "... carried HTTP from a client that is no DMA, an NDMP server answering
    (ndmp_undecodable)"); "" when there are none."""
    if not groups:
        return ""
    total = sum(len(group) for group in groups.values())
    pairs = ", ".join(f"{orig} -> {endpoint(resp, port)}" for orig, resp, port in groups)
    carried = " or ".join(dict.fromkeys(p for group in groups.values() for _, p in group))
    count = f"the {total} connections" if total > 1 else "the connection"
    what = (f"{carried} from a client that is no DMA, an NDMP server answering"
            if ndmp_servers else f"{carried}, not NDMP")
    return f"{count} to the NDMP port ({pairs}) carried {what} (ndmp_undecodable)"
