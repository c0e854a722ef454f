"""Whether a connection's first payload opens an NDMP session (looks_like_ndmp): the
capture engine taps a connection off the NDMP port for the collector
(flowcheck.ndmp.collector) when it does. Cheap and strict: one record mark and one
header, no state.
"""

from __future__ import annotations

from flowcheck.ndmp.protocol import (
    FRAGMENT_LENGTH_MASK,
    HEADER,
    LAST_FRAGMENT,
    MESSAGE_REQUEST,
    RECORD_MARK,
)


def looks_like_ndmp(payload: bytes) -> bool:
    """Does a connection's first payload open an NDMP session? Cheap and strict.

    True for a last-fragment record mark followed by the header of a NOTIFY_CONNECTED
    post (the agent's greeting) or a CONNECT_OPEN request, with sane fields.
    """
    if len(payload) < 28:
        return False
    (mark,) = RECORD_MARK.unpack_from(payload)
    length = mark & FRAGMENT_LENGTH_MASK
    if not mark & LAST_FRAGMENT or not 28 <= length <= 4096:
        return False
    _, _, raw_type, code, reply_sequence, error = HEADER.unpack_from(payload, 4)
    if raw_type != MESSAGE_REQUEST or reply_sequence != 0 or error != 0:
        return False
    body = payload[28:]
    if code == 0x900:  # CONNECT_OPEN request: one u_short version
        if length != 28:
            return False
        return len(body) < 4 or 1 <= int.from_bytes(body[:4], "big") <= 0xFF
    if code == 0x502:  # NOTIFY_CONNECTED: reason, version, text
        if length < 36:
            return False
        if len(body) >= 8:
            reason, version = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
            return reason <= 2 and 1 <= version <= 0xFF
        return True
    return False
