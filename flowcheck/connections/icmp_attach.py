"""ICMP quotes to the connections they name: the tracker's side of ICMP errors.

An ICMP unreachable (or other error) quotes the start of the TCP segment it answers
(RFC 792, RFC 4443; RFC 1812 4.3.2.3: as much as fits), so its 4-tuple names a
connection: the tracker adds the message's frame to that connection's `icmp_frames`
(at most 8, the first one's code as `icmp_code`, its source as `icmp_sender`). A
quote of no connection the capture holds goes to
flowcheck.connections.icmp.QuotedAttempts, which makes a connection of it when it shows
a refused SYN.

A 4-tuple used again (Backup Exec's job engine and agent take the first free port of
their ranges, so one data 4-tuple comes back job after job) names several connections:
the quote answers the one whose SYN it quotes (the quoted sequence number is that side's
base, as Wireshark numbers it), else the latest one opened before it in the capture (as
tshark's tcp.stream of the quote); one opened after it only when none opened before it
(files merged out of order), the nearest, as for a 4-tuple not reused. The tracker
keeps, per 4-tuple, the last few connections a new one replaced (`_replace`, once per
reused 4-tuple, not per packet) for the quotes handled after the new one opened (a
batch's quotes are handled after its walk).

Where in a batch a quote is handled keeps uids in first_frame order on every path: a
quote of no connection, known or about to be made by the batch's short-connection pass,
is handled before the pass's records are numbered (`_quotes_before_commit`), so a
connection it makes is numbered with the batch's other new ones; the others after them.

Apart from flowcheck.connections.tracker, which routes a batch's packets; IcmpAttach is a
base class of ConnectionTracker, whose connection table it reads (once per quote).
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.conn import ConnState
from flowcheck.connections.flows import Endpoint, FlowKey, address_text
from flowcheck.connections.icmp import QuotedAttempts
from flowcheck.connections.parked import Parked
from flowcheck.connections.short import ShortPass
from flowcheck.decode import IcmpQuote
from flowcheck.model import Connection

# Connections kept per 4-tuple after a new one replaced them (the quotes' candidates
# beside the current one): a reject comes within a round trip or two of its SYN.
REPLACED_PER_KEY = 4

# A connection a quote may answer: its record and the bases of its sides (the flow key's
# lower endpoint's, the upper one's; None when unknown).
_Candidate = tuple[Connection, int | None, int | None]


class IcmpAttach:
    """ConnectionTracker's ICMP quotes (see the module docstring). The state is the
    tracker's, set by ConnectionTracker.__init__ and per batch by its feed."""

    quoted: QuotedAttempts
    _replaced: dict[FlowKey, list[_Candidate]]
    _flows: dict[FlowKey, ConnState]
    _parked: dict[FlowKey, tuple[Parked, int]]
    _new: list[Connection]
    _short: tuple[ShortPass, np.ndarray, list[FlowKey], list[FlowKey]] | None

    def _quotes_before_commit(self, quotes: list[IcmpQuote]) -> list[IcmpQuote]:
        """Handle now the quotes of no connection, known or opened by the pending short
        pass, so a connection they make is numbered with the batch's other new ones
        (uids follow first_frame on every path); returns the others, to attach after
        the short pass's records are made."""
        if not quotes:
            return quotes
        pending = set(self._short[2]) if self._short is not None else set()
        late = []
        for quote in quotes:
            key = _quote_key(quote)
            if key in self._flows or key in self._parked or key in pending:
                late.append(quote)
            else:
                self._attach_icmp(quote)
        return late

    def _attach_icmp(self, quote: IcmpQuote) -> None:
        record = self._answered(_quote_key(quote), quote)
        if record is None:  # e.g. the SYN it answers is not captured
            made = self.quoted.add(quote)
            if made is not None:
                self._new.append(made)  # its uid in frame order, as a captured one's
        elif len(record.icmp_frames) < 8:
            if not record.icmp_frames:
                record.icmp_code = quote.code
                record.icmp_sender = address_text(quote.version, quote.sender)
            record.icmp_frames.append(quote.frame)

    def _answered(self, key: FlowKey, quote: IcmpQuote) -> Connection | None:
        """The connection of key a quote answers (see the module docstring), None when
        the table has none of key."""
        current = self._candidate(key)
        earlier = self._replaced.get(key)
        if earlier is None:  # a 4-tuple not reused: its one connection
            return None if current is None else current[0]
        candidates = [*earlier, *(() if current is None else (current,))]
        lower = (quote.version, quote.src, quote.sport) == key[0]
        for record, lower_base, upper_base in reversed(candidates):
            if (lower_base if lower else upper_base) == quote.seq:
                return record
        for record, _, _ in reversed(candidates):
            if record.first_frame <= quote.frame:
                return record
        return candidates[0][0]  # all opened after it: the nearest, as when not reused

    def _candidate(self, key: FlowKey) -> _Candidate | None:
        """The current connection of key in the table (tracked or parked), with its
        sides' bases."""
        c = self._flows.get(key)
        if c is not None:
            lower, upper = (c.orig, c.resp) if c.orig_is_lower else (c.resp, c.orig)
            return c.record, lower.base, upper.base
        parked = self._parked.get(key)
        if parked is None:
            return None
        block, i = parked
        return block.records[i], block.side_base(i, True), block.side_base(i, False)

    def _replace(self, key: FlowKey) -> None:
        """Keep the connection of key that a new one is about to replace in the table
        (a reused 4-tuple): a quote handled after the new one opened may answer it."""
        current = self._candidate(key)
        if current is not None:
            kept = self._replaced.setdefault(key, [])
            kept.append(current)
            del kept[:-REPLACED_PER_KEY]

def _quote_key(quote: IcmpQuote) -> FlowKey:
    """The flow key of the connection an ICMP message quotes."""
    src: Endpoint = (quote.version, quote.src, quote.sport)
    dst: Endpoint = (quote.version, quote.dst, quote.dport)
    return (src, dst, quote.tunnel) if src <= dst else (dst, src, quote.tunnel)
