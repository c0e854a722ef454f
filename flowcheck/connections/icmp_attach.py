"""ICMP quotes to the connections they name: the tracker's side of ICMP errors.

An ICMP unreachable (or other error) quotes the start of the TCP segment it answers
(RFC 792, RFC 4443; RFC 1812 4.3.2.3: as much as fits), so its 4-tuple names a
connection: the tracker adds the message's frame to that connection's `icmp_frames`
(at most 8, the first one's code as `icmp_code`, its source as `icmp_sender`). A
quote of no connection the capture holds goes to
flowcheck.connections.icmp.QuotedAttempts, which makes a connection of it when it shows
a refused SYN.

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


class IcmpAttach:
    """ConnectionTracker's ICMP quotes (see the module docstring). The state is the
    tracker's, set by ConnectionTracker.__init__ and per batch by its feed."""

    quoted: QuotedAttempts
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
        key = _quote_key(quote)
        c = self._flows.get(key)
        parked = self._parked.get(key)
        record = c.record if c is not None else (
            parked[0].records[parked[1]] if parked is not None else None)
        if record is None:  # e.g. the SYN it answers is not captured
            made = self.quoted.add(quote)
            if made is not None:
                self._new.append(made)  # its uid in frame order, as a captured one's
        elif len(record.icmp_frames) < 8:
            if not record.icmp_frames:
                record.icmp_code = quote.code
                record.icmp_sender = address_text(quote.version, quote.sender)
            record.icmp_frames.append(quote.frame)


def _quote_key(quote: IcmpQuote) -> FlowKey:
    """The flow key of the connection an ICMP message quotes."""
    src: Endpoint = (quote.version, quote.src, quote.sport)
    dst: Endpoint = (quote.version, quote.dst, quote.dport)
    return (src, dst, quote.tunnel) if src <= dst else (dst, src, quote.tunnel)
