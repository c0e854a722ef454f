"""Data connections that stay inside one host and never reach the network.

An NDMP server that runs both the data and the tape service (a filer with its own tape
library: NDMP's local or "2-way" backup; Amanda's `ndmjob -D AGENT -T AGENT`) moves the
data between its two services itself. The DMA says so in one of two ways (NDMP v4
section 3.8, ndmp4_addr; v2/v3 alike):

- NDMP_ADDR_LOCAL in the LISTEN reply and the CONNECT request: no TCP endpoint at all;
- NDMP_ADDR_TCP with an address of that host: the connector reaches its own address,
  which the host's stack delivers over its loopback interface.

Either way no capture on the wire can hold that connection, so its absence is neither
a failure nor a filtered capture (verify judges the data connection and data steps as
not needing the network). A loopback address (127.0.0.0/8, ::1) reads the same when
the host told to connect is the listener's own.

Who connects, as the control connections show it:
- a CONNECT request (DATA_CONNECT, MOVER_CONNECT, v2 DATA_START_*): the NDMP server it
  is sent to, its control connection's responder;
- a LISTEN reply (DATA_LISTEN, MOVER_LISTEN): the receiver of the CONNECT request to the
  same endpoint, on any control connection (the DMA tells the other service, possibly
  on another connection, to connect); without one on the wire, the DMA itself (its
  resident data or tape service: the control connection's originator). The listener is
  the NDMP server that replied: the endpoint is local only when that is the connector.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left
from collections import defaultdict
from functools import lru_cache

from flowcheck.config import host_address
from flowcheck.model import (
    Announcement,
    Connection,
    LocalData,
    LocalReason,
    NdmpMessage,
    NdmpStream,
    Session,
)
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.sessions.classify import announcement_groups, message_op, reply_to

# A CONNECT request may be timestamped this long before the LISTEN reply whose endpoint
# it carries (two interfaces merged, a SPAN port): flowcheck.sessions.matching's jitter.
_JITTER_SECONDS = 0.005

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# Asked of the same few hosts' addresses for every announcement and connection (88,600
# times in an analysis of 2,000 jobs); the parsed addresses are immutable.
@lru_cache(maxsize=4096)
def _address(ip: str) -> Address | None:
    """The address as the wire shows it (flowcheck.config.host_address: an IPv4-mapped
    IPv6 address, ::ffff:a.b.c.d, as its IPv4 one); None when ip is not an address."""
    try:
        return ipaddress.ip_address(host_address(ip))
    except ValueError:
        return None


def same_host(ip: str, other: str) -> bool:
    """Are the two addresses one (2001:db8::2 and 2001:0db8:0::2, 10.0.0.2 and
    ::ffff:10.0.0.2 alike)?"""
    first, second = _address(ip), _address(other)
    return first == second if first is not None and second is not None else ip == other


def wire_forms(ip: str) -> tuple[str, ...]:
    """The forms an announced address takes as a connection's end: an IPv4 address is
    also its IPv4-mapped IPv6 address (::ffff:10.0.0.2) in IPv6 headers, as a translator
    or capture point may show it (trial 28 D6); `ip` alone otherwise."""
    address = _address(ip)
    if isinstance(address, ipaddress.IPv4Address) and str(address) == ip:
        return ip, f"::ffff:{ip}"
    return (ip,)


def other_version(ip: str, other: str) -> bool:
    """Are the two addresses of different IP versions (an IPv4-mapped address counts as
    IPv4)? NDMP v4's NDMP_ADDR_TCP holds an IPv4 address only, so a listener reached over
    IPv6 announces its IPv4 address (trial 28 D4). False when either is not an address."""
    first, second = _address(ip), _address(other)
    return first is not None and second is not None and first.version != second.version


def ip_version(host: str, default: int = 4) -> int:
    """4 or 6, the IP version the address is written in (an IPv4-mapped address is IPv6:
    the headers that carry it are); `default` for anything that is not an IP address."""
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return default


def icmp_word(conn: Connection) -> str:
    """"ICMPv6" for a connection over IPv6, else "ICMP" (trial 28 D16)."""
    return "ICMPv6" if ip_version(conn.resp_h) == 6 else "ICMP"


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8 or ::1 (RFC 1122 3.2.1.3, RFC 4291 2.5.3), IPv4-mapped or not."""
    address = _address(ip)
    return address is not None and address.is_loopback


def is_local_group(session: Session, group: list[Announcement]) -> bool:
    """Is this announcement group (alternatives of one expectation) host-local?"""
    local = {(item.frame, item.endpoint) for item in session.local_data if item.endpoint}
    return any((a.frame, (a.ip, a.port)) in local for a in group)


def _announcer(name: str, is_reply: bool) -> bool:
    """Does a message of that name (with or without the NDMP_ prefix) carry a data
    endpoint (flowcheck.ndmp.collector.ANNOUNCERS)?"""
    return (f"NDMP_{name.upper().removeprefix('NDMP_')}", is_reply) in ANNOUNCERS


def _is_request(message: str) -> bool:
    return _announcer(message, False)


def _reply_error(stream: NdmpStream | None, frame: int, name: str) -> str:
    """The error name of the reply to the request `name` at `frame` ("" when it has no
    error, or the capture holds no reply)."""
    messages = stream.messages if stream else []
    op = name.upper().removeprefix("NDMP_")
    index = next((i for i, m in enumerate(messages)
                  if m.frame == frame and message_op(m) == op and m.type == "request"), None)
    if index is None:
        return ""
    reply = reply_to(messages[index], messages[index + 1:])
    return reply.error_name if reply is not None and reply.error else ""


def _connect_receivers(sessions: list[Session], control_of: dict[str, Connection]
                       ) -> dict[tuple[str, int], list[tuple[float, str]]]:
    """Per endpoint, (time, receiving host) of every CONNECT request that carried it,
    in time order."""
    receivers: dict[tuple[str, int], list[tuple[float, str]]] = defaultdict(list)
    for session in sessions:
        host = control_of[session.id].resp_h
        for ann in session.announced:
            if _is_request(ann.message):
                receivers[(ann.ip, ann.port)].append((ann.ts, host))
    for found in receivers.values():
        found.sort()
    return receivers


def _connector(ann: Announcement, control: Connection,
               receivers: dict[tuple[str, int], list[tuple[float, str]]]) -> str:
    """The host told to connect to the announced endpoint (see the module docstring)."""
    if _is_request(ann.message):
        return control.resp_h
    found = receivers.get((ann.ip, ann.port), [])
    index = bisect_left(found, (ann.ts - _JITTER_SECONDS, ""))
    return found[index][1] if index < len(found) else control.orig_h


def _local_tcp(ann: Announcement, control: Connection,
               receivers: dict[tuple[str, int], list[tuple[float, str]]]
               ) -> tuple[LocalReason, str] | None:
    """(reason, host) when the announced TCP endpoint is on the connector's own host: a
    CONNECT request names its receiver's own address or a loopback one; a LISTEN reply
    does, and the host told to connect is the replying one (an agent announcing the
    media server's address, or loopback, to a mover on the media server announces an
    address its peer cannot reach it on: announced_address_mismatch, as before)."""
    connector = _connector(ann, control, receivers)
    if not _is_request(ann.message) and not same_host(connector, control.resp_h):
        return None
    if is_loopback(ann.ip):
        return "loopback", connector
    return ("same_host", connector) if same_host(ann.ip, connector) else None


def _addr_local(stream: NdmpStream | None) -> list[NdmpMessage]:
    """Announcing messages with NDMP_ADDR_LOCAL (a reply without error)."""
    return [m for m in (stream.messages if stream else [])
            if _announcer(message_op(m), m.type == "reply")
            and m.body.get("addr_type") == "LOCAL" and m.error_free]


def find_local_data(sessions: list[Session], stream_by_uid: dict[str, NdmpStream],
                    control_of: dict[str, Connection]) -> None:
    """Fill each session's local_data: its announcements of an endpoint no captured
    connection reached (in any session) whose connector is the listener's own host, and
    its NDMP_ADDR_LOCAL ones. Runs after the data connections are matched: a connection
    the capture holds (tcpdump -i any on that host also captures its loopback) is judged
    as any other."""
    receivers = _connect_receivers(sessions, control_of)
    # An endpoint a captured connection reached, in any session (the MOVER_LISTEN reply
    # and the DATA_CONNECT request of one transfer are two sessions' announcements).
    reached = {(a.ip, a.port) for session in sessions for a in session.announced
               if a.used_by}
    for session in sessions:
        control = control_of[session.id]
        stream = stream_by_uid.get(session.control_uid)
        session.local_data = []
        for group in announcement_groups(session.announced):
            if any((a.ip, a.port) in reached for a in group):
                continue
            for ann in group:
                found = _local_tcp(ann, control, receivers)
                if found is None:
                    continue
                reason, host = found
                error = _reply_error(stream, ann.frame, ann.message) \
                    if _is_request(ann.message) else ""
                session.local_data.append(LocalData(ann.frame, ann.message, host, reason,
                                                    (ann.ip, ann.port), error))
                break
        for message in _addr_local(stream):
            error = _reply_error(stream, message.frame, message.name) \
                if message.type == "request" else ""
            session.local_data.append(LocalData(message.frame, message.name, control.resp_h,
                                                "addr_local", None, error))
        session.local_data.sort(key=lambda item: item.frame)
