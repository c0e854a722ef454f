"""Announcing messages whose address flowcheck cannot read although the capture holds
them whole: a LISTEN reply that succeeded (or a CONNECT request) naming an address type
NDMP does not define (v4: LOCAL 0, TCP 1, FC 2 reserved, IPC 3), such as the IPv6
address type of a vendor's extension (sent after CONFIG_SET_EXT_LIST). The message
announced an endpoint all the same: its data connections are matched by direction and
ports, as for an address the snap length cut (flowcheck.sessions.by_ports; trial 28 D8:
"no data connection opened, so no data moved" beside 400 kB that moved).
"""

from __future__ import annotations

from flowcheck.frame_names import frames_words
from flowcheck.model import NdmpMessage, NdmpStream
from flowcheck.ndmp.protocol import ADDR_TYPE_NAMES
from flowcheck.sessions.classify import JOB_STARTS, message_op
from flowcheck.sessions.snap_cut import cut_listener

_READ = set(ADDR_TYPE_NAMES.values())


def unknown_address_type(message: NdmpMessage) -> str | None:
    """The address type ("4") of an announcing message that succeeded and whose address
    flowcheck cannot read for its type alone (not cut, no address decoded); None for
    any other message."""
    if message.partial or message.addresses or message.error or \
            cut_listener(message) is None or message_op(message) in JOB_STARTS:
        return None
    kind = message.body.get("addr_type")
    return kind if isinstance(kind, str) and kind not in _READ else None


def unknown_type_announcements(stream: NdmpStream | None) -> list[NdmpMessage]:
    """The stream's announcing messages of an address type flowcheck cannot read."""
    return [m for m in (stream.messages if stream else []) if unknown_address_type(m)]


def unknown_type_words(messages: list[NdmpMessage]) -> str:
    """"DATA_LISTEN replies (frames 21, 250) answered NDMP_NO_ERR with address type 4,
    which flowcheck cannot read (...)", one clause per message name and type."""
    groups: dict[tuple[str, str, str | None], list[int]] = {}
    for message in messages:
        key = (message_op(message), message.type, unknown_address_type(message))
        groups.setdefault(key, []).append(message.frame)
    said = []
    for (op, kind, addr_type), frames in groups.items():
        many = len(frames) > 1
        what = ("repl" + ("ies" if many else "y")) if kind == "reply" else \
            "request" + ("s" if many else "")
        answered = " answered NDMP_NO_ERR" if kind == "reply" else ""
        said.append(f"{op} {what} ("
                    f"{frames_words(frames, ranges=False)}){answered} with address type "
                    f"{addr_type}, which flowcheck cannot read")
    return ("; ".join(said) + " (NDMP defines LOCAL 0, TCP 1, FC 2, IPC 3: a vendor "
            "extension, such as an IPv6 address type?)")
