"""capture_loss's gaps in a connection whose receiver the capture holds no packet of.

A capture of one direction (tcpdump -Q in/out, a SPAN port that sees one way, a slice
`-Y ip.src==SENDER`) still shows the holes in the sender's stream: sequence ranges never
seen although later data was. What it cannot show is who lost them: no ACK of the
receiver's is in it to say whether the receiver got them (Connection.sniffer_missed's
proof for a connection with both sides captured), so the sniffer and the network before
the capture point read alike. A sender going on without resending them points to the
sniffer only where the capture was taken on the sender's side of the loss (the sweep's
cut of trial38's jumbo-switch case, `-Q in` on the media server: a switch dropped every
full-size segment, resends too); and the gaps its connection (or the capture) ended less
than a retransmission timeout after (SideEvidence.untold) leave no time for a resend to
show at all. So every such gap is counted and named, hedged, never the sniffer's alone
nor a drop (task onedirloss: newuser60's slice of the 1 GB sniffer-loss capture to the
data sender's packets said nothing of its holes when they all came in its last 3 s).

Read at the end from the connections the census found one-sided (Census.one_sided): no
per-packet work. Source: flowcheck.connections.accounting (holes, untold_holes).
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from flowcheck.model import Connection


def one_way(conn: Connection) -> bool:
    """Does the capture hold packets of one side of `conn` only (none of the other)?
    Then no gap of it has the receiver's ACKs to place it."""
    return not (conn.orig_pkts and conn.resp_pkts)


def one_way_missed(conn: Connection) -> int:
    """The bytes in gaps of a one-way connection's captured stream (bytes, sequence
    space): its missed_bytes less those its receiver's ACKs proved lost (none without
    them: SideEvidence.lost needs the peer's ACKs)."""
    return conn.missed_bytes - conn.evidence("orig").lost - conn.evidence("resp").lost


def one_way_gaps(conn: Connection) -> int:
    """The gaps one_way_missed counts (Connection.gaps less the lost ones)."""
    return conn.gaps - conn.lost_gaps


def named_missed(conn: Connection) -> int:
    """The bytes of conn's gaps capture_loss names: the sniffer's
    (Connection.sniffer_missed), or, the capture holding one side of conn only, every
    gap of its stream (one_way_missed)."""
    return one_way_missed(conn) if one_way(conn) else conn.sniffer_missed


def named_gaps(conn: Connection) -> int:
    """The gaps named_missed counts."""
    return one_way_gaps(conn) if one_way(conn) else (
        conn.gaps - conn.lost_gaps - conn.untold_gaps)


def one_way_lossy(one_sided: Iterable[Connection],
                  placed: Set[str] = frozenset()) -> list[Connection]:
    """The connections of `one_sided` (Census.one_sided: a side with no packet captured)
    with gaps in the captured side's stream, but those whose missing bytes a finding
    places in the network (`placed`: verify.stall_passed.placed_uids), in order."""
    return [c for c in one_sided if c.missed_bytes and c.uid not in placed
            and one_way_missed(c) > 0]


def one_way_words(conns: list[Connection], missed_words: str, share_words: str,
                  described: str, *, also: bool) -> str:
    """capture_loss's sentence for the gaps of one-way connections (conns: one_way_lossy,
    most affected first): what the capture missed of the senders' streams, that who lost
    it cannot be told without the other direction, and the connections (described).
    missed_words: "N bytes of TCP payload in G gaps (...)"; share_words: "(x% of the N
    bytes it saw sent or acknowledged)"; also: another sentence (the gaps the receivers'
    ACKs place) came first."""
    count = len(conns)
    late = sum(c.untold_missed for c in conns)
    total = sum(one_way_missed(c) for c in conns)
    head = "It also missed" if also else "The capture missed"
    return (f"{head} {missed_words} of the sender's stream across {count} "
            f"{'connection' if count == 1 else 'connections'} whose receiver's packets the "
            f"capture does not hold, one direction {share_words}: sequence ranges never "
            "seen although later data was. No ACK of the receiver's is in the capture to "
            "tell whether they arrived, so who lost them cannot be told without the other "
            "direction: the sniffer, or the network before the capture point. A sender "
            "going on without resending them points to the sniffer only if the capture was "
            "taken on the sender's side of the loss; taken at the receiver, a network that "
            "drops the resends as well (frames larger than a switch's MTU) leaves the same "
            "gaps"
            + (f"; and {'all' if late == total else f'{late:,} B'} of them came less "
               "than a retransmission timeout before the connection's last packet, too "
               "soon for a resend to show" if late else "")
            + f". Most affected: {described}")
