"""Which equal packets of copies.py's sort are capture copies of one capture point: the
pairs within COPY_WINDOW, or WIDE_COPY_WINDOW for the same IPv4 ID, TTL and TSval
(flowcheck.connections.copy_window), and the gate for packets without an identity.

Some packets have no identity of their own: Linux sends SYN-ACKs, RSTs and its time-wait
ACKs with IP ID 0 (and DF), and IPv6 has no IP ID. Such a packet answers an arriving one,
so two arrivals microseconds apart get two equal answers: a SYN-ACK resent by its timer
and the one answering the resent SYN, both at the SYN retry's time (Linux runs both
timers from 1 s, doubling), 20 us apart in the trial captures; a RST for each segment of
a burst sent to a closed socket. Their TSval is equal too (a 1 ms clock, RFC 7323 5.4).
Taken for copies they would hide the SYN-ACK retries that show a blocked return path. So
a packet is identified when its IPv4 ID is not 0, or it is a SYN without ACK, or it
carries payload (sent again on a timer or after duplicate ACKs); an equal packet of another
kind is a copy only once the capture has shown, at or before it, a copy of an identified
packet: it evidently holds packets twice (a SPAN session duplicates a SYN or the first
data well before its SYN-ACK or RST). A pair within one file opens that file's gate only;
a pair between two files (two points) opens none. Decided in capture order, the rule is
the same for any batching; it cannot tell an answer sent twice from a copy in a capture
that duplicates (there it counts the pair as one packet sent).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowcheck.arrays import distinct, one_of
from flowcheck.connections.copies_tail import Rows
from flowcheck.connections.copy_window import COPY_WINDOW, WIDE_COPY_WINDOW
from flowcheck.connections.stamped_identity import id_and_ttl_kept, wide_copies
from flowcheck.decode import DecodedBatch
from flowcheck.decode.legs import named_part

# The columns of the fields a copy has equal to its original (packet_identity.FIELDS).
_IP_ID, _FLAGS, _PAYLOAD = 0, 3, 5  # their columns
_SYN, _ACK = 0x02, 0x10


class CopyPairs:
    """CaptureCopies' rule for the equal pairs of its sort (see the module docstring).
    The attributes are CaptureCopies.__init__'s: `systematic`, `_icmp_copied` and
    `_duplicating` (the gate: a copy of an identified packet seen anywhere, an ICMP copy
    seen, the files that copied an identified packet within themselves), `wide` and
    `widest` (the copies beyond COPY_WINDOW and the longest gap of one, seconds), and
    `_wide_then` (the batch's wide copies, indexes into its Rows)."""

    systematic: bool
    _icmp_copied: bool
    _duplicating: set[int]
    wide: int
    widest: float
    _wide_then: np.ndarray

    def _near(self, d: DecodedBatch, every: Rows, rows: np.ndarray, top: np.ndarray,
              position: np.ndarray, since: int | None,
              stamped: Callable[[np.ndarray], np.ndarray] | None = None,
              legs: Callable[[], np.ndarray] | None = None, own: Rows | None = None,
              ) -> tuple[np.ndarray, np.ndarray]:
        """The copies within COPY_WINDOW, or within WIDE_COPY_WINDOW for a packet with the
        same IPv4 ID, TTL and TSval (copy_window; see the module docstring): (earlier,
        later) indexes into every, the later ones in the batch. stamped, legs: mark's;
        own: the batch's Rows (its legs are read into it when a wide pair asks)."""
        pair = (top[1:] == top[:-1]).nonzero()[0]
        none = np.zeros(0, np.int64)
        if not pair.size:
            return none, none
        first, then = position[pair], position[pair + 1]
        fields, ts = every.fields, every.ts
        gap = np.abs(ts[then] - ts[first])
        equal = ((every.side[first] == every.side[then])
                 & (fields[first] == fields[then]).all(axis=1)
                 & (rows[then] >= 0))  # a pair within the tail was judged with its batch
        same = equal & (gap <= COPY_WINDOW)
        candidates = id_and_ttl_kept(np.flatnonzero(equal & ~same & (gap <= WIDE_COPY_WINDOW)),
                                     first, then, fields[:, _IP_ID], every.ttl)
        if stamped is not None and candidates.size:
            if legs is not None and own is not None:
                # Copies on two named interfaces (a host's forwarding, a bridge's ports,
                # two points kept apart in a pcapng) are relay_copies' and its words'.
                n, m = every.side.shape[0], own.side.shape[0]
                if not every.leg[n - m:].any():
                    every.leg[n - m:] = own.leg[:] = legs()
                candidates = candidates[named_part(every.leg[first[candidates]])
                                        == named_part(every.leg[then[candidates]])]
            strong = wide_copies(candidates, first, then, rows, every.stamp, stamped)
            same[strong] = True
            if strong.size:
                self.wide += strong.shape[0]
                self.widest = max(self.widest, float(gap[strong].max()))
                self._wide_then = then[strong]
        first, then = first[same], then[same]
        if not then.size:
            return first, then
        was = fields[then]
        identified = ((was[:, _IP_ID] != 0) | (was[:, _PAYLOAD] > 0)
                      | (was[:, _FLAGS] & (_SYN | _ACK) == _SYN))
        # A pair within one file is its capture point's own copy: an answer without an
        # identity is one only once that file duplicated an identified packet; copies
        # between two files (two points) open no file's gate (trial A of session 34: a
        # SYN-ACK resent by its timer 80 us before the one answering the resent SYN, in
        # the agent's file, read as a copy because the media server's file held copies
        # of the agent's).
        within = every.source[first] == every.source[then]
        gate = np.where(within, self._icmp_copied
                        | one_of(every.source[then], tuple(sorted(self._duplicating))),
                        self.systematic)  # as earlier batches left them
        self._duplicating.update(distinct(every.source[then][within & identified]).tolist())
        if not gate.all():
            # Answers before the first identified copy of their kind (within their own
            # file, or between files) stay sent (capture order).
            at = d.tcp_index[rows[then]]  # batch rows, to compare with since
            source = every.source[then]
            kind = np.where(within, source.astype(np.int64), -1)
            opened = np.zeros(then.size, bool)
            for code in distinct(kind).tolist():
                mine = kind == code
                firsts = [int(at[mine & identified].min())] if (mine & identified).any() \
                    else []
                if since is not None:
                    firsts.append(since)
                if firsts:
                    opened[mine] = at[mine] > min(firsts)
            keep = gate | identified | opened
            first, then = first[keep], then[keep]
        return first, then
