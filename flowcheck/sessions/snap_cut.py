"""Announcing messages the snap length cut: which ones, and whom they name.

A capture taken with a short snap length (tcpdump -s, dumpcap -s) may keep an NDMP
message's header and cut the data endpoint out of its body: the ndmp_addr of the
DATA_LISTEN and MOVER_LISTEN replies and of the DATA_CONNECT and MOVER_CONNECT requests
(NDMP v4 spec), or of v2's DATA_START_* requests, which carry it themselves. This module
says which of a control stream's announcing messages lost their address (one per
resource), who listens at the endpoint such a message names (by its name alone), and
which cut LISTEN replies are too short on the wire to hold a TCP endpoint at all (most
likely error replies: flowcheck.ndmp.protocol.can_hold_tcp_address).
flowcheck.sessions.by_ports matches their connections by direction and ports instead.
"""

from __future__ import annotations

from typing import Literal

from flowcheck.model import NdmpMessage, NdmpStream
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.ndmp.protocol import can_hold_tcp_address
from flowcheck.sessions.classify import JOB_STARTS, message_op

# Messages that carry a data endpoint, by name and whether a reply; v2's DATA_START_*
# (which also carry one there) are judged apart, by version.
_ANNOUNCING = {(name.removeprefix("NDMP_"), is_reply) for name, is_reply in ANNOUNCERS
               if name.removeprefix("NDMP_") not in JOB_STARTS}


def cut_listener(message: NdmpMessage) -> Literal["data", "mover"] | None:
    """Who listens at the endpoint an announcing message names, by its name alone (an
    address the snap length cut still leaves the header): "data" for DATA_LISTEN's
    reply and MOVER_CONNECT, "mover" for MOVER_LISTEN's reply, DATA_CONNECT and v2's
    DATA_START_*; None for another message (flowcheck.ndmp.collector.ANNOUNCERS)."""
    found = ANNOUNCERS.get((f"NDMP_{message_op(message)}", message.type == "reply"))
    return found  # type: ignore[return-value]


def cut_announcements(stream: NdmpStream | None) -> list[NdmpMessage] | None:
    """Announcing messages whose address the snap length cut, one per resource.

    A resource's messages run from its LISTEN to its DATA_START_*, or to the same
    announcing message again (a LISTEN retried after a port in use): an announcement of
    the same resource decoded elsewhere (the MOVER_LISTEN reply when DATA_CONNECT was
    cut) settles it. v2 carries the address in DATA_START_* itself. None when the snap
    length left the whole control stream unreadable (no message at all).
    """
    if stream is None or not stream.snap_cut:
        return []
    if not stream.messages:
        return None
    found: list[NdmpMessage] = []
    cut: NdmpMessage | None = None
    decoded = False
    version = known_version(stream)
    seen: set[tuple[str, bool]] = set()
    for message in stream.messages:
        op, is_reply = message_op(message), message.type == "reply"
        start = op in JOB_STARTS and not is_reply
        announcing = (op, is_reply) in _ANNOUNCING or (start and stream.version in (2, None))
        if announcing and (op, is_reply) in seen:  # the same step again: a new resource
            if cut is not None and not decoded:
                found.append(cut)
            cut, decoded, seen = None, False, set()
        if announcing and not (is_reply and message.error):
            seen.add((op, is_reply))
            if message.addresses:
                decoded = True
            elif message.partial and cut is None and not addressless(message, version):
                cut = message
        if start:
            if cut is not None and not decoded:
                found.append(cut)
            cut, decoded, seen = None, False, set()
    if cut is not None and not decoded:
        found.append(cut)
    return found


def known_version(stream: NdmpStream | None) -> int | None:
    """The session's NDMP version, None when the capture does not tell it: no stream,
    or a snap length that cut every body that tells v3 from v4 (the stream decodes them
    as v4, version_source "likely"; the session does not state that guess)."""
    if stream is None or stream.version_source == "likely":
        return None
    return stream.version


def addressless(message: NdmpMessage, version: int | None) -> bool:
    """Is a message the snap length cut too short on the wire to name a TCP endpoint
    (protocol.can_hold_tcp_address)? Such a LISTEN reply whose header error is
    NDMP_NO_ERR is most likely an error reply whose body error the snap length cut."""
    return (message.body_len is not None
            and not can_hold_tcp_address(message.body_len, message.type == "reply", version))


def addressless_replies(stream: NdmpStream | None) -> list[NdmpMessage]:
    """LISTEN replies the snap length cut that carry no TCP endpoint and no header error:
    whether their listen failed is in the part the capture did not keep."""
    if stream is None or not stream.snap_cut:
        return []
    return [m for m in stream.messages
            if m.type == "reply" and not m.error and (message_op(m), True) in _ANNOUNCING
            and addressless(m, known_version(stream))]
