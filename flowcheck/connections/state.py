"""Endpoint states and Zeek's conn_state, computed once per connection as a pure function.

The endpoint states follow Zeek's TCP analyzer (TCP_INACTIVE ... TCP_RESET); the mapping
to conn_state follows `conn_state()` in Zeek's scripts/base/protocols/conn/main.zeek.
"""

from __future__ import annotations

import re
from enum import IntEnum

import numpy as np


class EndpointState(IntEnum):
    INACTIVE = 0  # nothing sent yet
    SYN_SENT = 1
    SYN_ACK_SENT = 2
    PARTIAL = 3  # sent something without a SYN we saw: joined mid-stream
    ESTABLISHED = 4
    CLOSED = 5  # sent a FIN
    RESET = 6  # sent a RST


_INACTIVE_LIKE = (EndpointState.INACTIVE, EndpointState.PARTIAL)
# Originator sent a SYN, then a RST, with nothing from the responder in between.
_SYN_THEN_RESET = re.compile(r"\^?S[^HAFGIQTWR]*R.*")


def conn_state(orig: EndpointState, resp: EndpointState, history: str, orig_bytes: int,
               resp_bytes: int) -> str:
    """Zeek's conn_state letters: S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH."""
    orig_inactive = orig in _INACTIVE_LIKE
    resp_inactive = resp in _INACTIVE_LIKE
    if resp == EndpointState.RESET:
        if orig in (EndpointState.SYN_SENT, EndpointState.SYN_ACK_SENT) or (
                orig == EndpointState.RESET and orig_bytes == 0 and resp_bytes == 0):
            return "REJ"
        return "RSTRH" if orig_inactive else "RSTR"
    if orig == EndpointState.RESET:
        if resp_inactive:
            return "RSTOS0" if _SYN_THEN_RESET.fullmatch(history) else "OTH"
        return "RSTO"
    if orig == EndpointState.CLOSED and resp == EndpointState.CLOSED:
        return "SF"
    if orig == EndpointState.CLOSED:
        return "SH" if resp_inactive else "S2"
    if resp == EndpointState.CLOSED:
        return "SHR" if orig_inactive else "S3"
    if orig == EndpointState.SYN_SENT and resp == EndpointState.INACTIVE:
        return "S0"
    if orig == EndpointState.ESTABLISHED and resp == EndpointState.ESTABLISHED:
        return "S1"
    return "OTH"


# An object array: `_NAMES[which].tolist()` gives every record the same str object of
# its state (a str array's tolist makes a new str per record: 51 bytes each of 200,000
# short connections, kept to the end).
_NAMES = np.array(["OTH", "REJ", "RSTRH", "RSTR", "RSTO", "SF", "SH", "S2", "SHR", "S3", "S0",
                   "S1", "RSTOS0"], object)


def conn_states(orig: np.ndarray, resp: np.ndarray, histories: list[str],
                orig_bytes: np.ndarray, resp_bytes: np.ndarray) -> list[str]:
    """`conn_state` of many connections at once (endpoint states as integer arrays)."""
    o, r = orig.astype(np.int64), resp.astype(np.int64)
    orig_inactive = (o == EndpointState.INACTIVE) | (o == EndpointState.PARTIAL)
    resp_inactive = (r == EndpointState.INACTIVE) | (r == EndpointState.PARTIAL)
    o_reset, r_reset = o == EndpointState.RESET, r == EndpointState.RESET
    o_closed, r_closed = o == EndpointState.CLOSED, r == EndpointState.CLOSED
    rejected = (o == EndpointState.SYN_SENT) | (o == EndpointState.SYN_ACK_SENT) | (
        o_reset & (orig_bytes == 0) & (resp_bytes == 0))
    which = np.select(
        [r_reset & rejected, r_reset & orig_inactive, r_reset,
         o_reset & resp_inactive, o_reset,
         o_closed & r_closed, o_closed & resp_inactive, o_closed,
         r_closed & orig_inactive, r_closed,
         (o == EndpointState.SYN_SENT) & (r == EndpointState.INACTIVE),
         (o == EndpointState.ESTABLISHED) & (r == EndpointState.ESTABLISHED)],
        [1, 2, 3, 0, 4, 5, 6, 7, 8, 9, 10, 11], 0)
    names = _NAMES[which].tolist()
    # Originator reset, responder silent: RSTOS0 or OTH by the history (rare: per flow).
    for i in np.flatnonzero(o_reset & ~r_reset & resp_inactive).tolist():
        if _SYN_THEN_RESET.fullmatch(histories[i]):
            names[i] = "RSTOS0"
    return names
