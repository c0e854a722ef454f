"""Per-flow columns of the short-connection pass made into record fields: addresses as
text, optional floats, frame lists and histories (flowcheck.connections.short_records builds
the Connection records from them).
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import is_

import numpy as np

from flowcheck.connections.conn import EVIDENCE_CAP
from flowcheck.connections.flows import address_text
from flowcheck.model.frames import NO_FRAMES

# History letters, one bit each in rank order (conn.LETTER_RANK without ^ and G: a gap
# sends the flow back); the responder's are the same bits shifted by 10; bit 20 is ^.
LETTERS = "QISHDATWFR"
FLIPPED_BIT = 1 << 20
NONE = np.iinfo(np.int64).min  # "None" in the int64 state arrays


def address_texts(version: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Addresses as text (version: 4 or 6 per row; words: (n, 4) address words), each
    distinct address formatted once: the distinct texts (an object array) and each
    row's index among them (`names[codes]`: the rows' texts)."""
    if (version == 4).all():
        distinct, inverse = np.unique(words[:, 0], return_inverse=True)
        names = np.array([address_text(4, x.to_bytes(4, "big")) for x in distinct.tolist()],
                         object)
        return names, inverse.reshape(-1)
    rows = np.column_stack((version.astype(np.uint32), words))
    distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
    names = np.array([address_text(row[0], b"".join(w.to_bytes(4, "big") for w in row[1:])
                                   [:4 if row[0] == 4 else 16])
                      for row in distinct.tolist()], object)
    return names, inverse.reshape(-1)


def with_none(values: np.ndarray, missing: np.ndarray) -> list:
    """values.tolist() with None where `missing` (bool, values' shape): converted and
    replaced in C (an object array), not by a Python step per value."""
    if not missing.any():
        return values.tolist()
    out = values.astype(object)
    out[missing] = None
    return out.tolist()


def optional(values: np.ndarray) -> list[float | None]:
    """Floats as a list, nan as None."""
    return with_none(values, np.isnan(values))


def optional_item(value: float) -> float | None:
    return None if value != value else value


def ttl_item(value: int) -> int | None:
    """An IP TTL from the short pass's int16 arrays (-1: None)."""
    return None if value < 0 else value


def last_data_lists(last_data: tuple[list[tuple[int, int, float]], ...], count: int
                    ) -> list[list[tuple[int, float] | None]]:
    """Per side, per flow (count), its last (or first) data packet's (frame, time) or
    None, from short_columns.FlowColumns.last_data ((flow's index, frame, time) per side)."""
    sides = []
    for found in last_data:
        side: list[tuple[int, float] | None] = [None] * count
        for i, frame, ts in found:
            side[i] = (frame, ts)
        sides.append(side)
    return sides


def first_times(times: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per flow (column), the time of its first packet (in step order) where mask holds,
    nan where it never does."""
    first = mask.argmax(axis=0)
    return np.where(mask.any(axis=0), times[first, np.arange(mask.shape[1])], np.nan)


def first_frames(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per flow (column), the frame of its first packet (in step order) where mask holds,
    0 where it never does."""
    first = mask.argmax(axis=0)
    return np.where(mask.any(axis=0), frames[first, np.arange(mask.shape[1])], 0)


def frame_lists(frames: np.ndarray, mask: np.ndarray) -> list[list[int]]:
    """Per flow (column), the frames where mask holds, in step order, the first
    EVIDENCE_CAP only (conn._note); NO_FRAMES (shared) where it never does
    (FrameLists' lists)."""
    return FrameLists.of(frames, mask).tolist()


class FrameLists:
    """Per flow, the frames where a mask holds (frame_lists), kept as the arrays they
    are made from: each flow's count, first and last frame, and the lists of the flows
    with more than two. A record made when read (flowcheck.connections.block_records)
    takes its flow's list (`[i]`, `tolist`): a one-frame list per flow and field was
    ~90 bytes (the list and its int) held by every short connection not yet made."""

    __slots__ = ("counts", "first", "last", "more_at", "more")

    def __init__(self, counts: np.ndarray, first: np.ndarray, last: np.ndarray,
                 more_at: np.ndarray, more: list[list[int]]) -> None:
        """more_at: the flows (indices) with more than two frames, in order; more: theirs."""
        self.counts, self.first, self.last = counts, first, last
        self.more_at, self.more = more_at, more

    @classmethod
    def of(cls, frames: np.ndarray, mask: np.ndarray) -> FrameLists:
        """From [step, flow] frames and mask (frame_lists)."""
        counts = mask.sum(axis=0)
        if int(counts.max(initial=0)) > EVIDENCE_CAP:
            mask = mask & (np.cumsum(mask, axis=0) <= EVIDENCE_CAP)
            counts = mask.sum(axis=0)
        flows = np.arange(mask.shape[1])
        first = frames[mask.argmax(axis=0), flows]
        last = frames[mask.shape[0] - 1 - mask[::-1].argmax(axis=0), flows]
        more_at = np.flatnonzero(counts > 2)
        more: list[list[int]] = []
        if more_at.size:
            values = frames[:, more_at].T[mask[:, more_at].T].tolist()  # flow by flow
            ends = np.cumsum(counts[more_at])
            more = list(map(values.__getitem__, map(slice, (ends - counts[more_at]).tolist(),
                                                   ends.tolist())))
        # Kept to the capture's end: counts (at most EVIDENCE_CAP) and frame numbers in
        # the narrowest type that holds them (their items and lists the same ints).
        if max(int(first.max(initial=0)), int(last.max(initial=0))) <= np.iinfo(np.int32).max \
                and min(int(first.min(initial=0)), int(last.min(initial=0))) >= 0:
            first, last = first.astype(np.int32), last.astype(np.int32)
        return cls(counts.astype(np.int8), first, last, more_at, more)

    def __len__(self) -> int:
        return self.counts.shape[0]

    def __getitem__(self, i: int) -> list[int]:
        count = self.counts.item(i)
        if count == 0:
            return NO_FRAMES
        if count == 1:
            return [self.first.item(i)]
        if count == 2:
            return [self.first.item(i), self.last.item(i)]
        return list(self.more[int(np.searchsorted(self.more_at, i))])

    def empty(self) -> bool:
        """No flow has a frame."""
        return not self.counts.any()

    def tolist(self, rows: list[int] | None = None) -> list[list[int]]:
        """Every flow's list (or those of `rows`), each its own (NO_FRAMES shared where
        none). A flow's one or two frames (a SYN, the FINs of both sides: almost every
        flow) are made by numpy's tolist of an (n, 1) or (n, 2) array (each list and its
        ints made in C); the lists are then put in flow order by one gather of an object
        array over [NO_FRAMES, ones, twos, the others] (a Python step per flow was most of
        the cost)."""
        counts, first, last, more = self.counts, self.first, self.last, self.more
        if rows is not None:
            at = np.asarray(rows, np.int64)
            counts, first, last = counts[at], first[at], last[at]
            more = [more[k] for k in np.searchsorted(self.more_at, at[counts > 2]).tolist()]
        most = int(counts.max(initial=0))
        if most == 0:
            return [NO_FRAMES] * counts.shape[0]
        one, two = counts == 1, counts == 2
        if most == 1 and one.all():
            return first[:, None].tolist()
        pool: list[list[int]] = [NO_FRAMES]
        pool += first[one][:, None].tolist()  # [frame] each
        pool += np.stack((first[two], last[two]), axis=1).tolist()  # [first, last] each
        pool += (list(m) for m in more)
        # Each flow's place in pool: the ones, then the twos, then the others, in flow order.
        place = np.zeros(counts.shape[0], np.int64)
        taken = 1
        for group in (one, two, counts > 2):
            size = int(np.count_nonzero(group))
            place[group] = np.arange(taken, taken + size)
            taken += size
        # fromiter keeps each list as one object (an array made from the lists would nest).
        return np.fromiter(pool, object, len(pool))[place].tolist()


_HISTORY_CACHE: dict[bytes, str] = {}


def histories(new_letters: np.ndarray) -> list[str]:
    """Per flow (column), its history from the letter bits each step added."""
    steps = new_letters.shape[0]
    rows = np.ascontiguousarray(new_letters.T).view(f"S{8 * steps}").reshape(-1).tolist()
    cache = _HISTORY_CACHE
    # Looked up by a C-level map; a Python step only for the rows not cached yet (the
    # few distinct ones), not for every flow.
    out = list(map(cache.get, rows))
    for i in compress(range(len(out)), map(is_, out, repeat(None))):
        row = rows[i]
        found = cache.get(row)
        if found is None:
            found = cache[row] = _history(np.frombuffer(row.ljust(8 * steps, b"\0"),
                                                        np.int64).tolist())
        out[i] = found
    if len(cache) > 4096:
        cache.clear()
    return out


def _history(steps: list[int]) -> str:
    letters = "^" if steps and steps[0] & FLIPPED_BIT else ""
    for bits in steps:
        for n, letter in enumerate(LETTERS):
            if bits >> n & 1:
                letters += letter
            if bits >> (n + 10) & 1:
                letters += letter.lower()
    return letters
