"""Capture copies of ICMP errors: the same ICMP message captured twice, not two rejects.

An ICMP destination unreachable quoting a TCP packet (flowcheck.connections.icmp) is a
capture copy of an earlier one when the IP addresses and IPv4 identification of the
packets carrying them and the ICMP messages (type, code, checksum and the quoted bytes:
the quoted packet's IP header with its ID and its TCP header) are equal, captured at most
COPY_WINDOW apart. An ICMP error answers one datagram (RFC 792; RFC 1812 4.3.2.8 limits
their rate): a SYN sent again gets its own, quoting that SYN's IP ID and TSval. Taken for
two, a copy would be one more reject, and for a connection known only from quotes one
more SYN retry. An ICMP copy is one of a packet with an identity of its own (the quote
gives it one, IPv6 too): from it on, the capture duplicates.

`IcmpCopies` is CaptureCopies' part for them (flowcheck.connections.copies: the TCP
packets' copies); `icmp_copy` is also icmp_cut's, for the messages whose quote the snap
length cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.connections.copy_window import COPY_WINDOW

if TYPE_CHECKING:
    from flowcheck.decode import IcmpQuote  # decode.ipv6: loaded on first use

ICMP_CAP = 64  # ICMP messages kept within COPY_WINDOW of the latest, at most


def icmp_copy(kept: list[tuple[float, str, bytes]], ts: float, tunnel: str,
              identity: bytes) -> tuple[bool, list[tuple[float, str, bytes]]]:
    """Whether an ICMP message (its time, s, tunnel and IcmpQuote.identity) is a capture
    copy of one of `kept` (the messages before it, as (ts, tunnel, identity)): equal
    within COPY_WINDOW; and `kept` then: those within COPY_WINDOW of it and it, the last
    ICMP_CAP (also icmp_cut's, for the messages whose quote the snap length cut)."""
    near = [e for e in kept if abs(ts - e[0]) <= COPY_WINDOW]
    return (any(e[1:] == (tunnel, identity) for e in near),
            [*near, (ts, tunnel, identity)][-ICMP_CAP:])


class IcmpCopies:
    """CaptureCopies' ICMP copies (see the module docstring): `_icmp` the recent messages
    (ts, tunnel, identity), `systematic` whether a copy of an identified packet was seen,
    `ipv4` the copies over IPv4, `icmp_compared` the messages compared, `icmp_count` the
    copies among them, all set by CaptureCopies.__init__."""

    systematic: bool
    ipv4: int  # of the copies, those over IPv4 (here: ICMP quoting an IPv4 packet)
    icmp_compared: int  # the ICMP errors compared (icmp_originals' quotes), all batches
    icmp_count: int  # of CaptureCopies.count, the ICMP errors' copies (duplicates' words)
    _icmp: list[tuple[float, str, bytes]]

    def _note(self, frames: list[int], times: list[float],
              count: int | None = None) -> None:
        """CaptureCopies._note: count copies and keep the first frames."""
        raise NotImplementedError

    def icmp_originals(self, quotes: list[IcmpQuote]) -> tuple[list[IcmpQuote], int | None]:
        """The batch's ICMP quotes (capture order) without the capture copies, and the
        batch row (IcmpQuote.position) of its first copy when that is the capture's first
        copy of any kind (None otherwise): the TCP answers after it are copies too
        (`mark`'s `since`). Counts the copies and keeps their frames."""
        kept: list[IcmpQuote] = []
        found: list[int] = []
        found_ts: list[float] = []
        first = None
        self.icmp_compared += len(quotes)
        for quote in quotes:
            copy, self._icmp = icmp_copy(self._icmp, quote.ts, quote.tunnel, quote.identity)
            if copy:
                found.append(quote.frame)
                self.ipv4 += quote.version == 4
                found_ts.append(quote.ts)
                if first is None and not self.systematic:
                    first = quote.position
            else:
                kept.append(quote)
        if found:
            self.icmp_count += len(found)
            self._note(found, found_ts)
        return kept, first
