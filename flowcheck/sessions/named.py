"""Whose data connection is it, among sessions whose announcements the capture lacks?

When the sniffer lost the announcing messages of several jobs between the same hosts at
once (or the capture holds one direction of their control connections), every one of
their data connections fits each of those sessions by direction and ports
(flowcheck.sessions.by_ports). The sessions' later messages may still name the
endpoint: a DATA_GET_STATE reply carries the data server's data connection address
(NDMP v3/v4 ndmp_data_get_state_reply.data_connection_addr; v2: the mover address,
ndmp_mover_addr), a MOVER_GET_STATE reply the mover's (NDMP v3/v4
ndmp_mover_get_state_reply.data_connection_addr): the endpoint listened at, which is the
data connection's responder whichever side listened (NDMP v4 spec, DATA_LISTEN /
DATA_CONNECT: the connector connects to the address the listener announced). Decoded in
flowcheck.ndmp.messages (NdmpMessage.addresses).

`share_out` gives each candidate connection to the one session that names its endpoint,
else to the one session it fits, else to the one fitting session whose messages name no
endpoint at all; when several remain equally possible it names none of them (a tie)
rather than the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection, NdmpStream, Session

# Replies whose addresses name the endpoint of the session's data connection.
NAMING_REPLIES = frozenset({"NDMP_DATA_GET_STATE", "NDMP_MOVER_GET_STATE"})
# Requests that make a side connect, by which side: DATA_CONNECT the data server (the
# agent), MOVER_CONNECT the mover (the media server's tape side).
CONNECT_REPLIES = {"NDMP_DATA_CONNECT": "remote_agent", "NDMP_MOVER_CONNECT": "media_server"}
# Errors by which an NDMP server refuses a CONNECT request before it connects (NDMP v4
# 4.3.7 / 4.4.9: a bad address, a wrong state, the request itself): such a reply answers
# no SYN (review61e: another job's ILLEGAL_STATE 0.3 s after a job's last dropped SYN took
# that job's connection from it): NOT_SUPPORTED, NOT_AUTHORIZED, ILLEGAL_ARGS,
# XDR_DECODE, ILLEGAL_STATE, SEQUENCE_NUM (ndmp.protocol.ERROR_NAMES' indexes).
NOT_CONNECTED = (1, 4, 9, 18, 19, 24)


def named_endpoints(stream: NdmpStream | None) -> dict[tuple[str, int], tuple[int, str]]:
    """The TCP endpoints (ip, port) a control stream's DATA_GET_STATE / MOVER_GET_STATE
    replies name, each with the first naming reply's (frame, message name). Error
    replies and unset addresses (0.0.0.0, port 0: no connection yet) name nothing."""
    named: dict[tuple[str, int], tuple[int, str]] = {}
    for message in stream.messages if stream else ():
        if message.type != "reply" or not message.error_free or message.name not in NAMING_REPLIES:
            continue
        for address in message.addresses:
            if address.ip != "0.0.0.0" and address.port:
                named.setdefault((address.ip, address.port), (message.frame, message.name))
    return named


def connect_failures(stream: NdmpStream | None, session: Session
                     ) -> list[tuple[float, str]]:
    """The times (s) of a control stream's DATA_CONNECT / MOVER_CONNECT replies with an
    error, each with the host that was told to connect (the session's agent for
    DATA_CONNECT, its media server for MOVER_CONNECT). The connecting side sends the
    reply once its connect ended (NDMP v4, NDMP_DATA_CONNECT: "connection could not be
    established" is NDMP_CONNECT_ERR), so a connection refused at once (an RST to its
    SYN) is answered so right after the refusal (sessions.late_owners). Not a reply
    whose error refuses the request before any connect (NOT_CONNECTED)."""
    return [(message.ts, getattr(session, CONNECT_REPLIES[message.name]))
            for message in (stream.messages if stream else ())
            if message.type == "reply" and message.error and message.name in CONNECT_REPLIES
            and message.error not in NOT_CONNECTED]


@fields_dataclass(slots=True)
class Shares:
    """The outcome of share_out: each connection's owner (by uid), the naming reply
    behind an owner taken by its named endpoint (uid -> (frame, message name)), and the
    connections several sessions may equally own (uid -> those sessions, in order)."""

    owner: dict[str, Session] = field(default_factory=dict)
    named_by: dict[str, tuple[int, str]] = field(default_factory=dict)
    tied: dict[str, list[Session]] = field(default_factory=dict)


def share_out(candidates: Sequence[tuple[Session, Sequence[Connection]]],
              streams: dict[str, NdmpStream]) -> Shares:
    """Owners of the connections that fit sessions by direction and ports.

    candidates: per session (in session order), the connections that fit it. A
    connection goes to the one session whose messages name its responder endpoint
    (named_endpoints), else to its only fitting session, else to the only fitting one
    whose messages name no endpoint (the others' name their own); otherwise it is tied
    between the sessions still possible (those naming it, else those naming none, else
    all that fit it)."""
    named = {session.id: named_endpoints(streams.get(session.control_uid))
             for session, _ in candidates}
    possible: dict[str, list[Session]] = {}
    by_uid: dict[str, Connection] = {}
    for session, conns in candidates:
        for conn in conns:
            possible.setdefault(conn.uid, []).append(session)
            by_uid[conn.uid] = conn
    shares = Shares()
    for uid, sessions in possible.items():
        conn = by_uid[uid]
        where = (conn.resp_h, conn.resp_p)
        naming = [s for s in sessions if where in named[s.id]]
        silent = [s for s in sessions if not named[s.id]]
        if len(naming) == 1:
            shares.owner[uid] = naming[0]
            shares.named_by[uid] = named[naming[0].id][where]
        elif len(sessions) == 1:
            shares.owner[uid] = sessions[0]
        elif not naming and len(silent) == 1:
            shares.owner[uid] = silent[0]
        else:
            shares.tied[uid] = naming or (silent if len(silent) > 1 else sessions)
    return shares
