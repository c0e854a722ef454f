"""Where NDMP records start and end in one direction's captured bytes, read without
consuming them: the tests flowcheck.ndmp.stream's decoder frames and resynchronises with
(record marking, RFC 5531 11). `chain_ends` follows a record's fragment marks to its last
fragment, `next_mark_offset` says where a record a hole broke goes on, `cut_record_start`
tells a record whose header the snap length cut but for its error word, and
`tls_record_start` a TLS handshake record where a record mark should be. Each reads a
`CapturedBytes`' buffer (positions relative to its start; bytes the snap length cut never
read as a mark or header) or, for tls_record_start, at least 4 bytes of it.
"""

from __future__ import annotations

import re
import struct

from flowcheck.ndmp.captured_bytes import CapturedBytes
from flowcheck.ndmp.protocol import (
    FRAGMENT_LENGTH_MASK,
    HEADER_SIZE,
    LAST_FRAGMENT,
    MAX_FRAGMENT,
    RECORD_MARK,
    plausible_header,
)

MARK_AND_HEADER = 4 + HEADER_SIZE  # a record mark and a whole header
# The header's words up to its last, the error code: a record the snap length cut after
# them still names its message (tcpdump -i any -s 96 over IPv4 with TCP timestamps
# keeps 24 payload bytes: the record mark and 20 of the header's 24, field check 70).
HEADER_BUT_ERROR = HEADER_SIZE - 4
_HEADER_WORDS = struct.Struct(">IIIII")  # the header but its error word
# How far a resynchronising scan trusts a record mark: control messages are small.
RESYNC_MAX_RECORD = 1024 * 1024
# A record mark under 16 MiB (last fragment or not), 8 header bytes, then a message type
# of 0 or 1: where a resynchronising scan looks closer.
RECORD_CANDIDATE = re.compile(rb"[\x00\x80].{11}\x00\x00\x00[\x00\x01]", re.DOTALL)
_TLS_HANDSHAKE = 22  # TLS record content type handshake (RFC 8446 5.1)
_TLS_MAX_LENGTH_HIGH = (2**14 + 2048) >> 8  # a TLSCiphertext's length, its high byte


def cut_record_start(captured: CapturedBytes, missing: int) -> bool:
    """While framing is lost, do the buffered bytes, followed by `missing` bytes the
    snap length cut, start a record whose header was kept but for its error word
    (the decoder's _scan wants the whole header): a record mark of a last fragment that ends
    exactly with them (one record a packet, as peers write them), then a plausible
    header? Ending anywhere within them let a longer record's segment whose first
    bytes read as a header (a vendor code, zero-heavy data) invent a message
    (review62b). A record mark cut in a packet of two
    records loses framing, and a snap length keeping 24 B of each later packet (the
    mark and 20 header bytes) never gave _scan its 28: field check 70's `-i any -s
    96` backup lost every agent record after its first two-record packet."""
    buf = captured.buf
    start = 4 + HEADER_BUT_ERROR
    if not start <= len(buf) < MARK_AND_HEADER or \
            captured.known_until(0, start) < start or not RECORD_CANDIDATE.match(buf):
        return False
    (mark,) = RECORD_MARK.unpack_from(buf, 0)
    length = mark & FRAGMENT_LENGTH_MASK
    if not mark & LAST_FRAGMENT or length < HEADER_SIZE or length != len(buf) + missing - 4:
        return False
    _, _, raw_type, code, reply_seq = _HEADER_WORDS.unpack_from(buf, 4)
    return plausible_header(raw_type, code, reply_seq, 0)


def chain_ends(captured: CapturedBytes, pos: int) -> bool | None:
    """Do the fragment marks from the non-last one at `pos` chain to a last fragment
    within RESYNC_MAX_RECORD, every byte captured? None while more is needed."""
    buf = captured.buf
    total = 0
    while True:
        if len(buf) - pos < 4:
            return None
        if captured.known_until(pos, 4) < 4:
            return False
        (mark,) = RECORD_MARK.unpack_from(buf, pos)
        total += mark & FRAGMENT_LENGTH_MASK
        if total > RESYNC_MAX_RECORD:
            return False
        if mark & LAST_FRAGMENT:
            return True
        pos += 4 + (mark & FRAGMENT_LENGTH_MASK)


def next_mark_offset(captured: CapturedBytes) -> tuple[int, bool] | None:
    """Where the record the buffer begins with goes on, when its last buffered
    fragment runs past the buffer's end: (stream offset, is_end): its next fragment
    mark, or its end when that fragment is the last; else None."""
    buf = captured.buf
    pos = 0
    while len(buf) - pos >= 4 and captured.known_until(pos, 4) == 4:
        (mark,) = RECORD_MARK.unpack_from(buf, pos)
        length = mark & FRAGMENT_LENGTH_MASK
        if length > MAX_FRAGMENT:
            return None
        pos += 4 + length
        if pos > len(buf):
            return captured.base + pos, bool(mark & LAST_FRAGMENT)
        if mark & LAST_FRAGMENT:
            return None
    return None


def tls_record_start(buf: bytearray | bytes) -> bool:
    """Whether buf starts like a TLS handshake record (its first 4 bytes: content type,
    legacy version 3.0-3.4, the length's high byte within a record's limit)."""
    return (buf[0] == _TLS_HANDSHAKE and buf[1] == 3 and buf[2] <= 4
            and buf[3] <= _TLS_MAX_LENGTH_HIGH)
