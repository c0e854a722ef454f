"""Runs of Enhanced Packet Blocks found by scanning a buffer's words, not by a Python step
per block (pcapng.PcapngParser._epb_run_native's choice for buffers of small blocks).

The chain of block lengths is followed exactly as the one-block-at-a-time walk does (from
the run's first block, each block's length gives the next; the run ends at the first block
that is not an Enhanced Packet Block of a length of at least 32, a multiple of 4, whole in
the buffer), but over candidates found in bulk: every 32-bit word of the buffer (blocks
start on 4-byte boundaries) equal to the EPB type, followed by such a length, and whose
block's trailing length equals it (pcapng draft 4.3). Each candidate's next block is found
among the candidates by a search; wherever consecutive candidates chain (nearly every
block), no Python runs per block: Python steps only where the chain jumps over a
candidate (a payload word that looks like a block) or ends.

A block of the chain that fails the trailing-length test ends the run there; the walk's
caller then reads that block alone (PcapngParser._block), which raises the same error the
bulk test (PcapngParser._epb_table) would have raised for it in the run.

Cost: a few numpy passes over the buffer's words, against about 2,000 machine
instructions a block for the Python walk: cheaper for blocks under a few KiB
(SCAN_MAX_BLOCK), dearer for jumbo frames; and a Python step per block whose payload holds
look-alikes (a capture of pcapng files being copied): the caller walks the next
SCAN_REST buffers by the chain when a buffer took more than one step in STEPS_PER_BLOCK
blocks.
"""

from __future__ import annotations

import numpy as np

EPB_TYPE = 6
# Mean block size (bytes) up to which the scan is cheaper than the Python walk.
SCAN_MAX_BLOCK = 4096
# More Python steps than one in this many blocks: the scan is given up for SCAN_REST buffers.
STEPS_PER_BLOCK, SCAN_REST = 16, 16
# Words of the buffer (256 KiB) each pass of the scan looks at: its temporaries' bound.
SCAN_SLICE = 1 << 16


class EpbScan:
    """The EPB candidates of one buffer (the section's byte order, from word `first` on), found once
    and searched by every run walked in that buffer."""

    def __init__(self, words: np.ndarray, first: int, size: int) -> None:
        """words: the buffer as uint32 (the section's byte order), size: the buffer's
        length in bytes. The words are scanned SCAN_SLICE at a time: a payload of words
        equal to the EPB type (an array of 32-bit 6s) makes every word a candidate, and
        the temporaries of a pass (about 40 bytes a candidate) stay a slice's."""
        found_at, found_next = [], []
        for start in range(first, words.shape[0], SCAN_SLICE):
            at = np.flatnonzero(words[start:start + SCAN_SLICE] == EPB_TYPE)
            at += start
            lengths = words[np.minimum(at + 1, words.shape[0] - 1)].astype(np.int64)
            ends = at * 4 + lengths  # byte offset after each block
            sane = ((at + 1 < words.shape[0]) & (lengths >= 32) & (lengths & 3 == 0)
                    & (ends <= size))
            at, lengths, ends = at[sane], lengths[sane], ends[sane]
            whole = words[(ends >> 2) - 1] == lengths
            found_at.append(at[whole])
            found_next.append(ends[whole] >> 2)
        # Word offsets of the candidates, ascending, and of the block after each.
        self.at = np.concatenate(found_at) if found_at else np.empty(0, np.int64)
        self.next = np.concatenate(found_next) if found_next else np.empty(0, np.int64)
        following = np.empty(self.at.shape[0], np.bool_)
        np.equal(self.next[:-1], self.at[1:], out=following[:-1])
        following[-1:] = False
        self.breaks = np.flatnonzero(~following)  # candidates not followed by the next one
        self.steps = 0  # Python steps taken by run() (chain jumps and ends), for the caller

    def run(self, word: int) -> tuple[np.ndarray, int]:
        """The byte offsets of the run of EPBs from word offset `word` and the byte offset
        after it (as the one-block-at-a-time walk)."""
        at, nxt, breaks = self.at, self.next, self.breaks
        i = int(np.searchsorted(at, word))
        if i == at.shape[0] or int(at[i]) != word:
            return np.empty(0, np.int64), word * 4
        parts = []
        while True:
            self.steps += 1
            j = int(breaks[np.searchsorted(breaks, i)])  # the last candidate is a break
            parts.append(at[i:j + 1])
            target = int(nxt[j])
            i = int(np.searchsorted(at, target))
            if i == at.shape[0] or int(at[i]) != target:
                break
        run = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return run * 4, target * 4
