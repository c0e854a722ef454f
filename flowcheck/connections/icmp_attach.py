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
base, as Wireshark numbers it) if it came within that SYN's retries (`SYN_RETRY_SPAN`
after its first packet: a reject answers within a round trip; an older match is a
sequence number rewritten on the way, re-check of trials 22-24 N2), else the latest one
opened before it in the capture (as tshark's tcp.stream of the quote); when none opened
before it (files merged out of order, or a capture that lacks the SYN), the first one
after it, unless the quote shows a SYN that one did not send (another sequence number):
then the capture lacks that SYN, and the quote is one of no connection (`answering`).
The tracker keeps, per 4-tuple, the last few connections a new one replaced (`_replace`,
once per reused 4-tuple, not per packet) for the quotes handled after the new one opened
(a batch's quotes are handled after its walk).

Where in a batch a quote is handled keeps uids in first_frame order on every path: a
quote that answers no connection, known or about to be made by the batch's
short-connection pass, is handled before the pass's records are numbered
(`_quotes_before_commit`), so a connection it makes is numbered with the batch's other
new ones; the others after them.

Apart from flowcheck.connections.tracker, which routes a batch's packets; IcmpAttach is a
base class of ConnectionTracker, whose connection table it reads (once per quote).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flowcheck.connections.conn import EVIDENCE_CAP, ConnState
from flowcheck.connections.flows import Endpoint, FlowKey, address_text
from flowcheck.connections.icmp import (
    FRAMES_PER_QUOTE,
    QuotedAttempts,
    add_icmp,
    refuses_syn,
)
from flowcheck.connections.parked_table import ParkedTable
from flowcheck.connections.record_columns import NONE
from flowcheck.connections.short import ShortPass
from flowcheck.model import Connection

if TYPE_CHECKING:
    from flowcheck.decode import IcmpQuote  # decode.ipv6: loaded on first use

# Connections kept per 4-tuple after a new one replaced them (the quotes' candidates
# beside the current one): a reject comes within a round trip or two of its SYN.
REPLACED_PER_KEY = 4

# Seconds after a connection's first packet within which a quote of its SYN's sequence
# number answers it: its SYN and their retries (Linux's default 6 retries end 127 s
# after the first SYN; Windows' 2 or 4 after 21 or 31 s) and a round trip more.
SYN_RETRY_SPAN = 130.0

# A connection a quote may answer: its first frame, the bases of its sides (the flow
# key's lower endpoint's, the upper one's; None when unknown), its record (None for a
# new connection of the pending short pass: its record is made at the commit) and the
# time of its first packet.
_Candidate = tuple[int, int | None, int | None, Connection | None, float]


def answering(candidates: list[_Candidate], quote: IcmpQuote,
              lower: bool) -> _Candidate | None:
    """Which of a 4-tuple's connections (in order of opening) a quote answers (lower: its
    quoted segment's sender is the flow key's lower endpoint): the latest whose SYN it
    quotes (the sender's base is the quoted sequence number) within SYN_RETRY_SPAN of
    its first packet, else the latest opened before it; else the first after it, unless
    the quote shows a SYN of its own (another sequence number than that one's known
    base): None, a SYN the capture lacks."""
    side = 1 if lower else 2
    for candidate in reversed(candidates):
        if candidate[side] == quote.seq and quote.ts - candidate[4] <= SYN_RETRY_SPAN:
            return candidate
    latest = opened_before(candidates, quote.frame)
    if latest is not None:
        return latest
    first = candidates[0] if candidates else None
    if first is None or (refuses_syn(quote) and first[side] is not None):
        return None
    return first


def opened_before(candidates: list[_Candidate], frame: int) -> _Candidate | None:
    """Of a 4-tuple's connections (in order of opening), the latest opened at or before
    `frame` (its first frame); None when none was."""
    for candidate in reversed(candidates):
        if candidate[0] <= frame:
            return candidate
    return None


class IcmpAttach:
    """ConnectionTracker's ICMP quotes (see the module docstring). The state is the
    tracker's, set by ConnectionTracker.__init__ and per batch by its feed."""

    quoted: QuotedAttempts
    _replaced: dict[FlowKey, list[_Candidate]]
    _flows: dict[FlowKey, ConnState]
    _parked: ParkedTable
    _new: list[Connection]
    _short: tuple[ShortPass, np.ndarray, list[FlowKey], list[FlowKey], np.ndarray,
                  tuple[np.ndarray, np.ndarray]] | None

    def _quotes_before_commit(self, quotes: list[IcmpQuote]) -> list[IcmpQuote]:
        """Handle now the quotes that answer no connection, known or opened by the
        pending short pass, so a connection they make is numbered with the batch's other
        new ones (uids follow first_frame on every path); returns the others, to attach
        after the short pass's records are made."""
        if not quotes:
            return quotes
        keys = [_quote_key(quote) for quote in quotes]
        pending = self._pending_new(set(keys))
        late = []
        for quote, key in zip(quotes, keys, strict=True):
            candidates = self._candidates(key)
            if key in pending:
                candidates.append(pending[key])
            if answering(candidates, quote, _from_lower(quote, key)) is None:
                self._attach_icmp(quote)  # makes a connection of its own, or none
            else:
                late.append(quote)
        return late

    def _attach_icmp(self, quote: IcmpQuote) -> None:
        key = _quote_key(quote)
        answer = answering(self._candidates(key), quote, _from_lower(quote, key))
        record = None if answer is None else answer[3]
        if quote.mtu is not None and record is not None:
            told_too_big(record, quote)
        if quote.time_exceeded:  # refuses nothing: TCP resends (RFC 1122 4.2.3.9)
            if record is not None:
                told_ttl_exceeded(record, quote)
            return
        if quote.mtu is not None:
            # A packet too big or IPv4's fragmentation needed refuses nothing: path MTU
            # discovery's message (RFC 8201, RFC 1191), on which a TCP lowers its MTU and
            # goes on, a connect too (Linux tcp_v4_err; review62c: a SYN answered by code 4
            # read data_refused, "nothing listens there ... or a firewall rejects it"),
            # as a quote that makes a connection of its own refuses nothing (refuses_syn).
            return
        if record is None:  # e.g. the SYN it answers is not captured
            made = self.quoted.add(quote)
            if made is not None:
                self._new.append(made)  # its uid in frame order, as a captured one's
        else:
            add_icmp(record, quote.code, address_text(quote.version, quote.sender),
                     address_text(quote.version, quote.src), quote.frame, ttl=quote.ttl,
                     ts=quote.ts)

    def _opened_at(self, key: FlowKey, frame: int) -> Connection | None:
        """The record of key's connection opened last at or before `frame` (the one a
        packet of that frame belongs to), None when none was (icmp_cut's ties)."""
        latest = opened_before(self._candidates(key), frame)
        return None if latest is None else latest[3]

    def _answered_elsewhere(self, quote: IcmpQuote) -> bool:
        """Whether a captured connection answers a quote that made a connection of its
        own (at the end of the capture: a connection captured after it, the SYN it
        quotes; files merged out of order)."""
        key = _quote_key(quote)
        return answering(self._candidates(key), quote, _from_lower(quote, key)) is not None

    def _candidates(self, key: FlowKey) -> list[_Candidate]:
        """The connections of key a quote may answer, in order of opening: the last few
        a reused 4-tuple's new one replaced, and the current one of the table (tracked
        or parked)."""
        candidates = list(self._replaced.get(key, ()))
        c = self._flows.get(key)
        if c is not None:
            lower, upper = (c.orig, c.resp) if c.orig_is_lower else (c.resp, c.orig)
            candidates.append((c.record.first_frame, lower.base, upper.base, c.record,
                               c.record.ts))
        elif (entry := self._parked.get(key)) is not None:
            block, i = entry
            record = block.records[i]
            candidates.append((record.first_frame, block.side_base(i, True),
                               block.side_base(i, False), record, record.ts))
        return candidates

    def _pending_new(self, wanted: set[FlowKey]) -> dict[FlowKey, _Candidate]:
        """The new connections of the pending short pass (their records not made yet)
        of the keys wanted, by key."""
        if self._short is None:
            return {}
        short, keep, keys, *_ = self._short
        kept = np.zeros(len(keys), bool)
        kept[keep] = True
        pending: dict[FlowKey, _Candidate] = {}
        for i, key in enumerate(keys):
            if key not in wanted or not kept[i] or short.continuing[i]:
                continue
            orig, resp = (None if value == NONE else value
                          for value in (short.base.item(0, i), short.base.item(1, i)))
            lower, upper = (orig, resp) if short.orig_is_lower[i] else (resp, orig)
            pending[key] = (short.frame.item(i), lower, upper, None, short.ts.item(i))
        return pending

    def _replace(self, key: FlowKey) -> None:
        """Keep the connection of key that a new one is about to replace in the table
        (a reused 4-tuple): a quote handled after the new one opened may answer it."""
        candidates = self._candidates(key)
        if candidates:
            kept = self._replaced.setdefault(key, [])
            kept.append(candidates[-1])
            del kept[:-REPLACED_PER_KEY]


def told_too_big(record: Connection, quote: IcmpQuote) -> None:
    """Count an ICMPv6 packet too big or ICMP fragmentation needed quoting a segment of
    `record` (Connection.too_big_*: path MTU discovery's message, RFC 8201 / RFC 1191)."""
    record.too_big_count += 1
    if len(record.too_big_frames) < FRAMES_PER_QUOTE:
        record.too_big_frames.append(quote.frame)
    if quote.mtu and (record.too_big_mtu is None or quote.mtu < record.too_big_mtu):
        record.too_big_mtu = quote.mtu
    if record.too_big_sender is None:
        record.too_big_sender = address_text(quote.version, quote.sender)
        record.too_big_to = address_text(quote.version, quote.src)


def told_ttl_exceeded(record: Connection, quote: IcmpQuote) -> None:
    """Keep an ICMP / ICMPv6 time exceeded quoting a segment of `record`
    (Connection.ttl_exceeded_*: a router dropped it when its TTL ran out, RFC 792,
    RFC 4443 3.3)."""
    if len(record.ttl_exceeded_frames) < EVIDENCE_CAP:  # as many as syn_frames keeps:
        record.ttl_exceeded_frames.append(quote.frame)  # which SYNs drew one (tcptraceroute)
    if record.ttl_exceeded_sender is None:
        record.ttl_exceeded_sender = address_text(quote.version, quote.sender)


def _from_lower(quote: IcmpQuote, key: FlowKey) -> bool:
    """Whether the quoted segment's sender is the flow key's lower endpoint."""
    return (quote.version, quote.src, quote.sport) == key[0]


def _quote_key(quote: IcmpQuote) -> FlowKey:
    """The flow key of the connection an ICMP message quotes."""
    src: Endpoint = (quote.version, quote.src, quote.sport)
    dst: Endpoint = (quote.version, quote.dst, quote.dport)
    return (src, dst, quote.tunnel) if src <= dst else (dst, src, quote.tunnel)
