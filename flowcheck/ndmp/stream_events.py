"""What the NDMP stream decoder (flowcheck.ndmp.stream) yields: `RawMessage` (one ONC
RPC record, RFC 5531 11: its 24-byte NDMP header fields and body), `DecodeProblem` (bytes
it could not frame, with the frames they came in) and `NEED_DATA` (feed it more)."""

from __future__ import annotations

from dataclasses import field
from typing import Final, Literal

from flowcheck.fields_dataclass import fields_dataclass


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()

# "cut": a hole (bytes never captured: DecodeProblem.missing) or the stream's end
# (missing None) broke off a record;
# "lost": the snap length cut a record's mark or header (its length is known).
# "skipped": bytes after a hole passed over to the next record start (detail: "rest" for
# the rest of the record the hole broke, "unproven" for bytes before a provable start).
# "tls": the direction went on in TLS after records were read (the rest is not read).
ProblemKind = Literal["absurd_fragment", "bad_header", "short_record", "garbage", "cut",
                      "lost", "skipped", "tls"]


@fields_dataclass(slots=True)
class RawMessage:
    """One NDMP record as read from a stream: its header words and body bytes, where it
    starts (frame, time in seconds), and how much of it the capture kept."""

    sequence: int
    time_stamp: int
    raw_type: int
    code: int
    reply_sequence: int
    error: int
    body: bytes
    frame: int
    ts: float
    partial: bool = False  # the capture lost part of the body
    body_len: int | None = None  # the body's length on the wire, when partial and known
    size: int = 0  # the record's bytes in the stream (marks, header, body); 0 when unknown
    # The snap length cut the header's last word, its error code (error reads 0, body
    # b""): a reply's error is unknown (NdmpMessage.error_unknown), a request's unused.
    error_cut: bool = False

    @property
    def snapped(self) -> bool:
        """Partial because of the snap length (its length is known), not a lost packet."""
        return self.body_len is not None


@fields_dataclass(slots=True)
class DecodeProblem:
    """Something a stream's bytes could not be read as (a hole, a bad mark): its kind,
    detail (words, never parsed), frames, time (seconds), the bytes thrown away and, for
    a "cut" by a hole, the bytes the hole left out."""

    kind: ProblemKind
    detail: str
    frames: list[int] = field(default_factory=list)
    ts: float = 0.0
    skipped: int = 0  # bytes thrown away
    # A "cut" by a hole: the bytes never captured (Gap.missing, > 0); None for any other
    # problem, a "cut" by the stream's end among them.
    missing: int | None = None


Event = RawMessage | DecodeProblem | _NeedData
