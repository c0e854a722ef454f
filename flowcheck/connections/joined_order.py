"""A file joined out of time order: pieces of one capture, not a clock set back.

Pieces of one capture joined in the wrong order (`mergecap -a p2.pcap p3.pcap p1.pcap`,
`cat` in a shell glob's order) make one file whose time jumps back where a piece
begins that was captured before the one written ahead of it. By the timestamps alone
that is a clock set back (flowcheck.connections.clock), and each connection that
spans two pieces reads as two: the later-written piece's part, its SYN, as a new
connection reusing the 4-tuple of the earlier-written part, which started mid-session
(newuser58: clean-3-resources cut in three and joined p2 p3 p1 read INCONCLUSIVE with a
second session, "the capture ended 21.5 ms after the control connection opened" and
port_reused_within_hold for a SYN stamped before the connection it "reused").

TCP tells the two apart. A connection's sequence numbers only go forward in time. A
clock set back leaves the later-written packets of a connection stamped early but on
in its sequence space (connections.acked_early finds their acknowledgements stamped
before the bytes). Pieces joined out of order put a connection's earlier bytes after
its later ones in the file, stamped before them: a SYN written after packets of its
4-tuple that are stamped after it, whose side saw no SYN of its own (mid-session),
and whose first sequence number lies after the SYN's ISN by the bytes the SYN's own
connection (as the first reading opened it) carried, within CONTINUES (`continues`
at the SYN, `continued` once the reading is done), is that connection's start, not a
new connection. A random ISN of a 4-tuple reused after a clock set back lands that
near once in 64 or less, beside the other conditions.

The file is read again as its pieces merged by time (sources.joined_pieces) when:
one file (a pcap, a pcapng, files joined with cat) that can be read again; at least
one SYN continues an earlier-written connection; no acknowledgement proves a clock
set back (ClockSteps.acks); and the file's timestamps split it into parts each in
time order and apart in time (sources.joined_pieces.time_pieces). Otherwise the
reading is as before: the parts overlap (a clock set back, the capture going on past
the time it stepped back to), or no SYN is written after its connection's later
packets (pieces joined p1 p3 p2: the SYN comes first, the file's order holds for it),
or no connection spans two pieces to show it. A pcapng file of several
interfaces is read in time order across them (sources.interface_order): its
interfaces' blocks are no parts.
"""

from __future__ import annotations

from flowcheck.connections.clock import ClockSteps
from flowcheck.connections.conn import ConnState
from flowcheck.connections.endpoint import signed32
from flowcheck.durations import span_words
from flowcheck.findings import make_finding
from flowcheck.model import Connection, Finding
from flowcheck.sources.inputs import InputSpec
from flowcheck.sources.joined_pieces import FilePieces, time_pieces

# Bytes: how far the bytes between a SYN's ISN and a mid-session side's first sequence
# number may differ from those its connection sent (in flight at the join, resent) for
# the SYN to be that side's (a random ISN of a reused 4-tuple falls that near once in
# 64 or less).
CONTINUES = 1 << 24
# How joined_finding's message starts: a capture_clock_stepped that is no clock set back
# (the code that acts on it reads TrackResult.clock_step.joined, not these words).
JOINED_WORDS = "The capture file holds pieces of one capture joined out of time order"


def continues(c: ConnState, from_lower: bool, seq: int, ts: float) -> int | None:
    """Whether a SYN (seq: its raw ISN; ts: its time, s; from_lower: its sender is the
    flow key's lower endpoint) on c's 4-tuple, which starts_new took for a new
    connection, may be c's own start written after it: c's first packet stamped after
    the SYN, c's side of the sender without a SYN of its own, its first sequence number
    after the ISN. Returns the bytes between them (the bytes the SYN's piece must carry
    for the SYN to be c's: `continued`), or None."""
    if c.record.ts <= ts:
        return None
    side = c.orig if from_lower == c.orig_is_lower else c.resp
    if side.isn is not None or side.base is None:
        return None
    # A side first seen without its SYN has base = its first sequence number - 1: the
    # bytes sent before it, counted from the ISN.
    gap = signed32(side.base - seq)
    return gap if gap >= 0 else None


def continued(candidates: list[tuple[int, int, int]], connections: list[Connection],
              ) -> tuple[int, int] | None:
    """The first candidate SYN (ClockSteps.continued: its frame, the later connection's
    first frame, the bytes between) whose connection's originator (the connection the
    first reading opened at the SYN) sent the bytes between: no fewer than its bytes
    counted once (Connection.unique_sent), no more than its packets' payload
    (orig_bytes) and the bytes the capture missed of it, each within CONTINUES.
    Returns (the SYN's frame, the later connection's first frame), or None."""
    opened = {c.first_frame: c for c in connections}
    for syn, first, gap in candidates:
        c = opened.get(syn)
        if c is None:
            continue
        # Its bytes counted once by sequence number at the least (a first reading may
        # take the piece's bytes behind a jump back for resent ones, or for capture
        # copies), its packets' payload and the bytes the capture missed at the most.
        if c.unique_sent("orig") - CONTINUES <= gap <= c.orig_bytes + c.missed_bytes + CONTINUES:
            return syn, first
    return None


def joined_pieces(clock: ClockSteps, connections: list[Connection], spec: InputSpec,
                  chunk_size: int) -> tuple[FilePieces, tuple[int, int]] | None:
    """The pieces to read the file (spec) as (module docstring) and the SYN that showed
    them (`continued`), from a first reading's ClockSteps and connections of it and a
    reading of its timestamps (sources.joined_pieces.time_pieces, only once a SYN
    continues a connection); None when it is no file joined out of time order as far
    as the rule can tell."""
    if (not clock.continued or clock.acks.found is not None or len(clock.spans) != 1
            or not spec.reopenable):
        return None
    shown = continued(clock.continued, connections)
    if shown is None:
        return None
    pieces = time_pieces(spec, chunk_size)
    return None if pieces is None else (pieces, shown)


def joined_finding(pieces: FilePieces, shown: tuple[int, int]) -> Finding:
    """capture_clock_stepped (info) of a file read as its pieces merged by time: where
    its time went back (FilePieces.back), which SYN showed the pieces joined out of
    order (shown: `continued`'s (SYN frame, connection's first frame)), frames the file's own,
    and how the frames are numbered now (in time order: the findings' frames are no
    longer the file's)."""
    frame, seconds, ts = pieces.back
    syn, first = shown
    return make_finding(
        "capture_clock_stepped",
        f"{JOINED_WORDS}, not a clock set back: its time goes back "
        f"{span_words(seconds)} at the file's frame {frame}, it is {len(pieces)} parts "
        "each in time order and apart in time, and "
        f"the SYN of the file's frame {syn} opens the connection whose packets the file "
        f"holds from its frame {first} on, stamped after it, their sequence numbers going "
        "on from the SYN's (capture files joined with mergecap -a or cat in the wrong "
        "order: a shell glob puts ring.pcap10 before ring.pcap2). flowcheck reads the "
        f"file's {len(pieces)} parts merged by time, as it reads pieces given as separate "
        "files; frame numbers count in that order, as in the file sorted by time "
        "(reordercap IN.pcap OUT.pcap numbers them so), not the file's own.",
        "Nothing to change for the backup. To find the frames flowcheck names, sort the "
        "file by time: reordercap IN.pcap OUT.pcap; next time give flowcheck the files or "
        "their directory (it orders them by time) or merge them by time (mergecap -w "
        "without -a).",
        ts=ts)  # frames: the file's, named in the words (the findings' count in time order)
