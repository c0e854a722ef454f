"""Connections the capture holds only as ICMP unreachables quoting their SYNs.

The tracker attaches an ICMP quote to the connection it names (`Connection.icmp_frames`).
A capture of one direction (a SPAN port that sees one way, `tcpdump -Q in`) may hold the
reject a host or its firewall sent back but not the SYN it answers: then no connection
has that 4-tuple. The message quotes the SYN (RFC 792 and RFC 4443: the IP header and the
start of the TCP header; RFC 1812 4.3.2.3 and Linux: as much as fits, flags included),
so it proves the SYN was sent and refused: such a quote makes a connection of zero
captured packets (docs/json.md, "Connections known only from ICMP quotes"), judged by the
same rules as a captured refusal (flowcheck.sessions.classify.quoted_syn_refused).

Only a quote that shows a SYN without ACK does, and not IPv4's "fragmentation needed"
(path MTU discovery, RFC 1191): a quote cut before the TCP flags, or of a segment of a
connection the capture lacks (mid-connection), proves no connection attempt and is left
out. One connection per quoted 4-tuple, tunnel (the tunnel the ICMP message came in) and
SYN: each further quote of the same SYN (the same sequence number) is one more SYN of
the same attempt (a retransmission from the same port, `syn_retries`); a quote of a SYN
with another sequence number is another attempt (a 4-tuple used again, as a captured
SYN would open a new connection: tshark's tcp.stream). tshark's conversation table (`-z
conv,tcp`) has no such conversation: the connection list equals it on connections with
packets.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable
from typing import TYPE_CHECKING

from flowcheck.connections.flows import address_text
from flowcheck.model import Connection
from flowcheck.model.frames import frames_of

if TYPE_CHECKING:
    from flowcheck.decode import IcmpQuote  # decode.ipv6: loaded on first use

# ICMP frames kept per quoted attempt (as for a captured connection), and attempts kept
# in all: a scan rejected port by port would otherwise grow without bound; quotes past
# the cap make no connection (the steps they would decide stay as without them).
FRAMES_PER_QUOTE = 8
MAX_QUOTED = 65536

_SYN, _ACK = 0x02, 0x10
_FRAGMENTATION_NEEDED = 4  # ICMP (IPv4) type 3 code 4

_Key = tuple[int, bytes, int, bytes, int, str]


def refuses_syn(quote: IcmpQuote) -> bool:
    """A refusal of a connection attempt: the quote shows a SYN without ACK, and the code
    is not IPv4's "fragmentation needed" (RFC 1191), nor the message ICMPv6's packet too
    big (RFC 4443 3.2), nor a time exceeded (a TTL run out: TCP resends)."""
    return (quote.flags is not None and quote.flags & (_SYN | _ACK) == _SYN
            and not (quote.version == 4 and quote.code == _FRAGMENTATION_NEEDED)
            and not quote.too_big and not quote.time_exceeded)


def add_icmp(record: Connection, code: int, sender: str, to: str, frame: int, *,
             ttl: int | None = None, in_order: bool = True, ts: float | None = None) -> bool:
    """One more ICMP unreachable (its frame, its time `ts` in seconds) of the record, the
    first naming its code, sender, addressee and IP TTL (hop limit) as captured (the TTL
    None once two of them differ, the rejects past FRAMES_PER_QUOTE counted too); at most
    FRAMES_PER_QUOTE frames kept, the earliest kept one's (frame, ts) in
    Connection.icmp_stamp, the latest reject's ts (every one read) in
    Connection.icmp_last. The one writer of Connection.icmp_* for every path that ties a
    reject to a connection (connections.icmp_attach, icmp_cut, and QuotedAttempts'
    connections made of quotes).
    in_order: frames come in order (else placed in order). Whether it was the record's
    first."""
    first = not record.icmp_frames
    if first:
        record.icmp_code, record.icmp_sender, record.icmp_to = code, sender, to
        record.icmp_ttl = ttl
    elif ttl != record.icmp_ttl:
        # Rejects at two TTLs: none of them speaks for all. Before the frame cap: a
        # reject past it is still one the TTL must speak for.
        record.icmp_ttl = None
    if ts is not None and (record.icmp_last is None or ts > record.icmp_last):
        record.icmp_last = ts
    if len(record.icmp_frames) >= FRAMES_PER_QUOTE:
        return False
    if ts is not None and (first or record.icmp_stamp is None
                           or frame < record.icmp_stamp[0]):
        record.icmp_stamp = (frame, ts)  # the earliest kept frame's
    record.icmp_frames = frames_of(record.icmp_frames)  # a short record's shared one
    if in_order:
        record.icmp_frames.append(frame)
    else:
        insort(record.icmp_frames, frame)
    return first


class QuotedAttempts:
    """Connections made from ICMP quotes of SYNs no tracked connection holds."""

    def __init__(self) -> None:
        # The latest attempt per quoted 4-tuple, with its SYN's sequence number.
        self._by_key: dict[_Key, tuple[Connection, int]] = {}
        self._made: list[tuple[Connection, IcmpQuote]] = []  # each with its first quote

    def add(self, quote: IcmpQuote) -> Connection | None:
        """Count a quote the tracker found no connection for (its frame and ts set);
        returns the connection it makes when it is the first of its attempt (the
        tracker gives it a uid), else None."""
        key = (quote.version, quote.src, quote.sport, quote.dst, quote.dport, quote.tunnel)
        if not refuses_syn(quote):
            return None
        latest = self._by_key.get(key)
        if latest is None or latest[1] != quote.seq:
            if len(self._made) >= MAX_QUOTED:
                return None
            conn = Connection(
                uid="", orig_h=address_text(quote.version, quote.src), orig_p=quote.sport,
                resp_h=address_text(quote.version, quote.dst), resp_p=quote.dport,
                ts=quote.ts, last_ts=quote.ts, conn_state="S0", first_frame=quote.frame,
                last_frame=quote.frame, icmp_frames=[], tunnel=quote.tunnel or None)
            _add_quote(conn, quote)
            self._by_key[key] = (conn, quote.seq)
            self._made.append((conn, quote))
            return conn
        conn = latest[0]
        conn.syn_retries += 1
        conn.last_ts = max(conn.last_ts, quote.ts)
        conn.last_frame = max(conn.last_frame, quote.frame)
        _add_quote(conn, quote)
        return None

    def untracked(self, answered: Callable[[IcmpQuote], bool]) -> list[Connection]:
        """The quoted connections no captured connection answers (answered: asked with
        each one's first quote, at the end of the capture: a connection captured after
        it with the SYN it quotes, files merged out of order, holds the quotes' story),
        in order of their first ICMP frame."""
        kept = [conn for conn, quote in self._made if not answered(quote)]
        return sorted(kept, key=lambda c: c.first_frame)


def _add_quote(conn: Connection, quote: IcmpQuote) -> None:
    """The quote as one more ICMP unreachable of the connection made of its attempt
    (add_icmp; addressed to the quoted SYN's sender, the connection's originator)."""
    add_icmp(conn, quote.code, address_text(quote.version, quote.sender),
             address_text(quote.version, quote.src), quote.frame, ttl=quote.ttl,
             ts=quote.ts)
