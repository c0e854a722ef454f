"""no_control_session when the capture's own filter left the control connection out.

A capture taken with a filter (live's --capture-filter, a pcapng file's if_filter option)
that rejects every packet to and from the NDMP port cannot hold the control connection,
whatever the job did: the finding then names the filter as the cause, its fix says to
drop it, and it is a warning (nothing of the job could be judged: the verdict is
inconclusive, as for capture_filtered). The filter is tried on the packets a control
connection would carry (the media server's SYN to the agent's NDMP port and the answer,
IPv4 or IPv6 on Ethernet, between the configured or captured hosts) and on the same
packets to another port, with libpcap itself (pcap_compile, pcap_offline_filter: the
sniffer's own compiler, so the test is the sniffer's meaning). The port is the filter's
cause only when the first are all dropped and the others not; without libpcap, or a
filter it cannot compile, nothing is claimed.

A capture that started during the job's data transfer, its control connection idle,
is the other capture that cannot hold it: flowcheck.verify.late_start.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import replace
from typing import Literal, NamedTuple

from flowcheck.bpf import filter_results
from flowcheck.config import Config
from flowcheck.model import CaptureInfo, Connection, Finding, Severity
from flowcheck.profiles import Profile
from flowcheck.sources.pieces import ONE_PIECE
from flowcheck.verify.census import Census
from flowcheck.verify.control_left_out import explain_left_out
from flowcheck.verify.late_start import explain_late_start

_SYN, _SYN_ACK = 0x02, 0x12
_MEDIA_PORT = 49152  # the media server's end: any dynamic port
_OTHER_PORT = 6000  # a data port, for the same packets on another port than the NDMP one
_DOC_PAIR = ("192.0.2.1", "192.0.2.2")  # RFC 5737 addresses, when no host is known
_LOOPBACK_NAMES = ("lo", "lo0")


class PortOnlyCapture(NamedTuple):
    """Why a capture set could hold nothing but the NDMP port's packets
    (port_only_capture): kind "filter", the capture filters its files record keep only
    that port (filters: each once, as recorded); "no_other", no file records one and the
    set holds no packet but TCP (filters empty)."""

    kind: Literal["filter", "no_other"]
    filters: tuple[str, ...] = ()


def quoted(filters: Iterable[str]) -> str:
    """"'port 10000' and 'tcp'": capture filters as a finding names them."""
    return " and ".join(f"'{f}'" for f in filters)


def _tcp_frame(src: str, dst: str, sport: int, dport: int, flags: int) -> bytes:
    """An Ethernet frame carrying one TCP segment (checksums left 0: BPF reads none)."""
    source, target = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 1 if flags & 0x10 else 0, 5 << 4, flags,
                      64240, 0, 0)
    if source.version == 4:
        ethertype = 0x0800
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                         source.packed, target.packed)
    else:
        ethertype = 0x86DD
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, source.packed, target.packed)
    link = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
    return link + struct.pack("!H", ethertype) + ip + tcp


def _pairs(config: Config, connections: list[Connection]) -> list[tuple[str, str]]:
    """(media server, agent) addresses a control connection would join: the configured
    hosts, the captured connections' ends, else documentation addresses."""
    pairs = [(m, a) for m in config.media_servers[:4] for a in config.remote_agents[:4]]
    pairs += [(c.orig_h, c.resp_h) for c in connections[:4]]
    pairs = [(m, a) for m, a in dict.fromkeys(pairs) if _same_family(m, a)]
    return pairs or [_DOC_PAIR]


def _same_family(first: str, second: str) -> bool:
    try:
        return ipaddress.ip_address(first).version == ipaddress.ip_address(second).version
    except ValueError:
        return False


def _openings(config: Config, connections: list[Connection], port: int) -> list[bytes]:
    """A connection's opening to `port` between each pair of hosts (_pairs): the media
    server's SYN and the agent's SYN-ACK, as Ethernet frames (_tcp_frame)."""
    return [frame for media, agent in _pairs(config, connections)
            for frame in (_tcp_frame(media, agent, _MEDIA_PORT, port, _SYN),
                          _tcp_frame(agent, media, port, _MEDIA_PORT, _SYN_ACK))]


def _kept(expression: str, config: Config, connections: list[Connection]
          ) -> tuple[list[bool], list[bool]] | None:
    """Which packets the filter keeps of a control connection's (a SYN to
    config.ndmp_port and its SYN-ACK, between the hosts) and of the same packets on
    another port: (control, other); None when libpcap cannot try it."""
    port = config.ndmp_port
    other = next((c.resp_p for c in connections if c.resp_p != port), _OTHER_PORT)
    if other == port:
        other += 1
    control = _openings(config, connections, port)
    reference = _openings(config, connections, other)
    kept = filter_results(expression, control + reference)
    if kept is None:
        return None
    return kept[:len(control)], kept[len(control):]


def _tagged(frame: bytes, vlan: int = 100) -> bytes:
    """`frame` (_tcp_frame's) with an 802.1Q tag after its MAC addresses."""
    return frame[:12] + struct.pack("!HH", 0x8100, vlan) + frame[12:]


def keeps_control(expression: str, config: Config, connections: list[Connection]
                  ) -> tuple[bool, bool] | None:
    """Does the filter keep every packet of a control connection's opening (a SYN to
    config.ndmp_port and its SYN-ACK, between the configured or captured hosts, else
    documentation addresses), (untagged, 802.1Q-tagged)? A filter that keeps the
    untagged ones cannot have left out a job's plain control connection on that link,
    only one VLAN-tagged (when the second is False) or inside a tunnel or an MPLS label
    it does not name ('tcp' drops VXLAN's UDP: trial 22 D2). None when libpcap cannot
    try it (not installed, or the filter does not compile)."""
    frames = _openings(config, connections, config.ndmp_port)
    kept = filter_results(expression, frames + [_tagged(f) for f in frames])
    if kept is None:
        return None
    return all(kept[:len(frames)]), all(kept[len(frames):])


def excludes_control(expression: str, config: Config, connections: list[Connection]) -> bool:
    """True when the filter drops a control connection's packets for their port: it keeps
    no packet to or from config.ndmp_port (a SYN and its SYN-ACK) between the hosts, and
    keeps the same packets on another port. False when it keeps one, drops both alike
    (a host or VLAN filter: not the port's doing), or cannot be tried."""
    kept = _kept(expression, config, connections)
    return kept is not None and not any(kept[0]) and any(kept[1])


def keeps_only_port(expression: str, config: Config,
                    connections: list[Connection]) -> bool | None:
    """Does the filter keep a control connection's packets and drop the same packets on
    another port (a data connection's: tcpdump 'port 10000')? None when libpcap cannot
    try it (not installed, or the filter does not compile)."""
    kept = _kept(expression, config, connections)
    return None if kept is None else any(kept[0]) and not any(kept[1])


def port_only_capture(captures: list[CaptureInfo], config: Config,
                      connections: list[Connection]) -> PortOnlyCapture | None:
    """Why the capture set could hold nothing but the NDMP port's packets, so that a
    connection on another port missing from it proves nothing (None when it could hold
    others): the capture filter every file records keeps only that port
    (keeps_only_port: kind "filter"), or, when a file records none, the set holds no
    packet that is not TCP (a 'port 10000' filter or a mirror of that port keeps no ARP,
    ICMP, ND or UDP either: kind "no_other"; flowcheck.verify.connect_said.only_ndmp_port
    adds that every TCP connection has the port). None when the filters recorded keep
    other ports, or the set holds a packet that is not TCP."""
    filters = [c.capture_filter for c in captures]
    if captures and all(filters):
        said = {f: keeps_only_port(f, config, connections) for f in dict.fromkeys(filters)
                if f}
        if all(v is not None for v in said.values()):
            if not all(said.values()):
                return None
            return PortOnlyCapture("filter", tuple(said))
    if sum(c.non_tcp for c in captures):
        return None
    return PortOnlyCapture("no_other")


def explain_missing_control(findings: list[Finding], captures: list[CaptureInfo],
                            connections: list[Connection], config: Config,
                            profile: Profile | None = None,
                            census: Census | None = None) -> list[Finding]:
    """The findings, a no_control_session rewritten when a capture's filter left out the
    NDMP port (a warning naming the filter), the job's other connections opened in it
    (capture_filtered: verify.control_left_out; the errors of their failed openings are
    verify.left_out_failed's), the capture started during the job's data
    transfer (a warning naming the data connection when the configuration ties it to a
    job: flowcheck.verify.late_start; profile: the job's, for its steps) or the capture
    was taken on a loopback interface (its words name the interface; still an error).
    census: the connections' (verify.census; None: the set is one piece), whose pieces are
    the set's parts apart in time (sources.pieces): a piece's own finding (dated:
    verify.no_session.pieces_without_session) is explained from that piece's files and
    connections alone (Census.in_pieces), as it reads alone (review58f: v4-backup's data
    connection alone, without its opening, a day after the v4 backup read FAIL "none of
    the 1 TCP connections goes to the NDMP port" there, the other file's control
    connection ruling out the late start; alone, the late start's warning, INCONCLUSIVE)."""
    if not any(f.code == "no_control_session" for f in findings):
        return findings
    pieces = ONE_PIECE if census is None else census.pieces
    if len(pieces) < 2:
        return [_explained(f, captures, connections, config, profile)
                if f.code == "no_control_session" else f for f in findings]
    conns = census.in_pieces
    files = pieces.group([info for info in captures if info.span is not None], _first_ts)
    out = []
    for finding in findings:
        if finding.code != "no_control_session":
            out.append(finding)
        elif finding.ts is None:  # the whole set's
            out.append(_explained(finding, captures, connections, config, profile))
        else:
            index = pieces.of(finding.ts)
            out.append(_explained(finding, files[index], list(conns[index]), config,
                                  profile, pieces.words(index)))
    return out


def _first_ts(info: CaptureInfo) -> float:
    """A file's first packet time (s; its span is known): the time that places it in a
    piece."""
    assert info.span is not None
    return info.span[0]


def _explained(finding: Finding, captures: list[CaptureInfo], connections: list[Connection],
               config: Config, profile: Profile | None, where: str = "the capture"
               ) -> Finding:
    """no_control_session explained by what `captures` (their filters, the loopback
    interface) and `connections` show: a filter that leaves out the NDMP port, a capture
    that started during a job's transfer (late_start), the job's control connection left
    out (control_left_out); else as it is. where: what the words name the capture ("the
    capture", a piece of a set apart in time, sources.pieces.Pieces.words: passed to the
    writers, never put in for their words afterwards)."""
    port = config.ndmp_port
    filters = list(dict.fromkeys(c.capture_filter for c in captures if c.capture_filter))
    excluding = [f for f in filters if excludes_control(f, config, connections)]
    # Every file's filter, not one of them: an unfiltered file could have held it.
    if excluding and all(c.capture_filter in excluding for c in captures):
        said = quoted(excluding)
        return replace(
            finding, severity=Severity.WARNING,
            message=f"No NDMP control connection in {where}: its capture filter {said} "
                    f"leaves out every packet to and from the NDMP port {port}, so the "
                    "capture cannot hold the job's control connection, whatever the job did "
                    f"({len(connections)} TCP connection{'s' if len(connections) != 1 else ''}"
                    " captured): nothing of the job can be judged.",
            fix=f"Capture again without that capture filter (or with one that keeps TCP port "
                f"{port}: live's default does) while the job starts.")
    late = explain_late_start(finding, connections, config, profile, where)
    if late is not None:
        return late
    left_out = explain_left_out(finding, connections, config,
                                callback=profile is None or profile.callback != "none",
                                where=where)
    if left_out is not None:
        return left_out  # the job's other connections opened in it (control_left_out)
    loopback = [c.interface for c in captures if c.interface in _LOOPBACK_NAMES]
    if loopback and connections:
        name = loopback[0]
        return replace(
            finding,
            message=f"{finding.message} The capture was taken on the loopback interface "
                    f"{name}, which carries only connections between this host's own "
                    "addresses: the control connection from another host does not pass it.",
            fix=f"Capture on the media server's interface toward the agent (not {name}) while "
                f"the job starts; check --ndmp-port ({port} here).")
    return finding


def name_own_filter(findings: list[Finding], captures: list[CaptureInfo]) -> list[Finding]:
    """The findings, a capture_filtered one naming the capture filter every file of the
    set records it was taken with (CaptureInfo.capture_filter: `live --capture-filter`,
    a pcapng's if_filter) and saying to capture again without it (field check 36c: live's
    own `--capture-filter 'tcp port 10000'` drew tcpdump's generic advice)."""
    filters = list(dict.fromkeys(c.capture_filter for c in captures if c.capture_filter))
    if not filters or not all(c.capture_filter for c in captures):
        return findings
    words = (f" This capture records its own capture filter, {quoted(filters)}: capture "
             "again without it (flowcheck live's default keeps every TCP packet), or with one "
             "that keeps the backup hosts' whole conversation.")
    return [replace(f, fix=f.fix.rstrip() + words) if f.code == "capture_filtered" else f
            for f in findings]
