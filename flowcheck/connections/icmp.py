"""ICMP destination unreachables whose quoted TCP packet belongs to no tracked connection.

The tracker attaches an ICMP quote to the connection it names (`Connection.icmp_frames`).
A capture of one direction (a SPAN port that sees one way, `tcpdump 'src host X'`) may
hold the reject a host or its firewall sent back but not the SYN it answers: then no
connection has that 4-tuple, and the quote is kept here instead, as evidence for
verification (flowcheck.verify.quoted). It never becomes a connection: tshark's
conversation table (`-z conv,tcp`) leaves out a conversation seen only inside ICMP
quotes, and the connection list stays equal to it.
"""

from __future__ import annotations

from flowcheck.connections.flows import address_text
from flowcheck.decode import IcmpQuote
from flowcheck.model import Connection, IcmpUnreachable

# ICMP frames kept per quoted 4-tuple (as Connection.icmp_frames), and 4-tuples kept in
# all: a scan rejected port by port would otherwise grow without bound; evidence past
# the cap is not used (the steps it would decide stay as without it).
FRAMES_PER_QUOTE = 8
MAX_QUOTED = 65536

_Key = tuple[int, bytes, int, bytes, int, str]


class UnattachedIcmp:
    """Quotes of no tracked connection, one IcmpUnreachable per quoted 4-tuple."""

    def __init__(self) -> None:
        self._by_key: dict[_Key, IcmpUnreachable] = {}

    def add(self, quote: IcmpQuote) -> None:
        """Keep a quote the tracker found no connection for (its frame and ts set)."""
        key = (quote.version, quote.src, quote.sport, quote.dst, quote.dport, quote.tunnel)
        record = self._by_key.get(key)
        if record is None:
            if len(self._by_key) >= MAX_QUOTED:
                return
            record = self._by_key[key] = IcmpUnreachable(
                orig_h=address_text(quote.version, quote.src), orig_p=quote.sport,
                resp_h=address_text(quote.version, quote.dst), resp_p=quote.dport,
                ts=quote.ts, version=quote.version, icmp_code=quote.code,
                tcp_flags=quote.flags, tunnel=quote.tunnel or None)
        if len(record.frames) < FRAMES_PER_QUOTE:
            record.frames.append(quote.frame)

    def records(self, connections: list[Connection]) -> list[IcmpUnreachable]:
        """The quotes, in order of their first frame, without those whose 4-tuple a
        connection took after the ICMP message (a capture merged out of order)."""
        if not self._by_key:
            return []
        tracked = {(c.orig_h, c.orig_p, c.resp_h, c.resp_p, c.tunnel) for c in connections}
        kept = [r for r in self._by_key.values()
                if (r.orig_h, r.orig_p, r.resp_h, r.resp_p, r.tunnel) not in tracked
                and (r.resp_h, r.resp_p, r.orig_h, r.orig_p, r.tunnel) not in tracked]
        return sorted(kept, key=lambda r: r.frames[0])
