"""A pcapng file of several interfaces read in time order, as files of a set are merged.

dumpcap writes the packets of several interfaces as each interface's buffer fills: one
interface's packets in a block, then another's, so the file goes back in time at each
turn (capinfos: "Strict time order: False"). Read in file order, a SYN-ACK comes before
its SYN and an NDMP reply before its request when the two travelled on different
interfaces (a NIC team sending on one member and receiving on the other, trial 24 D1).

Each interface of a section is therefore read as a file of a set is (sources.merge): its
packets keep their order, keyed by the running maximum of their timestamps, and the
interfaces merge by key, ties in file order. A clock stepped back on every interface at
once (one host's clock; one interface per direction) starts a clock epoch on each
(sources.clock_epochs), and the interfaces merge by (epoch, key): the packets after the
step interleave as before it, not one interface's after the other's. Sections stay in
file order (files joined with `cat` are read in the order joined). Frame numbers stay
the file's, as Wireshark shows them (Records.position).

As in the merge of files, a packet is handed on once every interface still sending has
sent one keyed at or after it; the packets keyed later are held back (the overlap of
about one block per interface). An interface described but not seen yet, or that sent
nothing in the last SILENT_PACKETS packets, holds nothing back past that many packets,
so memory stays bounded: a file whose second interface never sends (an idle member of
`dumpcap -i eth0 -i eth1`, a pktmon file's silent interfaces) holds its first 20,000
packets, and hands them on at once. The held packets stay in their read buffers and
are copied once, into the chunk they are handed on with (sources.held_packets): the
cost per packet does not grow with what is held. A file of one interface costs
nothing; one whose interfaces' packets are already in time order a few comparisons per
chunk, no copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flowcheck.arrays import distinct
from flowcheck.sources.clock_epochs import StreamClock, confirmed_epoch, settle, shared_epoch
from flowcheck.sources.held_packets import HeldPackets, Part, undo_epoch
from flowcheck.sources.records import Records

Buffer = bytes | bytearray | memoryview
Chunk = tuple[Buffer, Records]
# An interface none of whose packets came in this many of the file's latest packets is
# taken to have stopped (or to send nothing earlier than what follows): the others'
# packets are not held back for it (memory stays bounded).
SILENT_PACKETS = 20_000


class InterfaceOrder:
    """Puts the chunks of one file in time order across its interfaces (feed, flush)."""

    def __init__(self) -> None:
        self._merging = False
        # Per interface: its clock epoch and running maximum timestamp within it.
        self._clocks: dict[int, StreamClock] = {}
        self._last: dict[int, int] = {}  # per interface: packets read up to its last one
        self._read = 0  # packets read so far
        self._held = HeldPackets()  # what is held back, left in its read buffers
        self._shared = 0  # the latest clock epoch two interfaces reached: handed on

    def feed(self, buf: Buffer, records: Records, sections: Sequence[int]) -> list[Chunk]:
        """The chunks ready to hand on after this one (records need `interface` and
        `position` for merging; `sections`: the section of each interface)."""
        if not len(records):
            return []
        if records.interface is None or records.position is None:
            return self.flush() + [(buf, records)]
        if not self._merging:
            if len(sections) < 2:  # one interface so far: its order is the file's
                self._read += len(records)
                return [(buf, records)]
            self._merging = True
        epochs, keys = self._keys(records)
        section = np.asarray(sections, np.int64)[records.interface]
        newest = int(section.max())
        for interface in range(len(sections)):
            # One described but not seen yet may still send earlier packets.
            self._last.setdefault(interface, self._read)
        sending = [interface for interface in range(len(sections))
                   if sections[interface] == newest
                   and self._read - self._last[interface] <= SILENT_PACKETS]
        for interface, undone, pre in settle(self._clocks, sending):
            undo_epoch(records, epochs, keys, interface, undone, pre)
            self._held.undo(interface, undone, pre)
        bound = min((self._clocks[interface].bound()
                     if interface in self._clocks else (confirmed_epoch(self._clocks), -np.inf)
                     for interface in sending), default=(np.iinfo(np.int64).max, np.inf))
        out: list[Chunk] = []
        self._shared = shared_epoch(self._clocks)
        ready_parts: list[Part] = []
        if self._held:
            if self._held.last_section() < section.min() or (
                    self._held.latest() <= min(bound, _earliest(epochs, keys))):
                # All of it before this chunk and before anything still to come.
                out.append(self._in_order(self._held.take_all()))
            else:
                ready_parts = self._held.ready(newest, bound)
        ready = (section < newest) | (epochs < bound[0]) | (
            (epochs == bound[0]) & (keys <= bound[1]))
        if ready.all():
            ready_parts.append((buf, records, keys, section, epochs))
        else:
            rows, rest = np.flatnonzero(ready), np.flatnonzero(~ready)
            if rows.size:
                ready_parts.append((buf, records.take(rows), keys[rows], section[rows],
                                    epochs[rows]))
            self._held.add((buf, records.take(rest), keys[rest], section[rest], epochs[rest]))
        if ready_parts:
            out.append(self._in_order(ready_parts))
        return out

    def flush(self) -> list[Chunk]:
        """What is held back, in order (at the end of the file or of its pcapng part)."""
        if not self._held:
            return []
        parts = self._held.take_all()
        # The interfaces ended: a step none can follow now and not shown to stay is
        # undone (records written late), as another's going on TOGETHER past it would.
        for interface, undone, pre in settle(self._clocks, [], final=True):
            for _, records, keys, _, epochs in parts:
                undo_epoch(records, epochs, keys, interface, undone, pre)
        return [self._in_order(parts)]

    @property
    def copied(self) -> int:
        """Bytes of held packets copied so far (held_packets.HeldPackets.copied)."""
        return self._held.copied

    def _in_order(self, parts: list[Part]) -> Chunk:
        """The parts as one chunk (held_packets: bytes copied once), in order."""
        return _in_order(*self._held.joined(parts), self._shared)

    def _keys(self, records: Records) -> tuple[np.ndarray, np.ndarray]:
        """Each packet's (clock epoch, key): the running maximum of its interface's
        timestamps within the epoch (sources.clock_epochs)."""
        assert records.interface is not None
        keys = np.empty_like(records.ts)
        epochs = np.empty(len(records), np.int64)
        for interface in distinct(records.interface).tolist():
            mask = records.interface == interface
            if interface not in self._clocks:
                self._clocks[interface] = StreamClock(confirmed_epoch(self._clocks))
            epochs[mask], keys[mask], undone = self._clocks[interface].keys(records.ts[mask])
            if undone is not None:
                # a step these packets undid: the interface's held packets of its epoch
                self._held.undo(interface, *undone)
            self._last[interface] = self._read + int(np.flatnonzero(mask)[-1]) + 1
        self._read += len(records)
        return epochs, keys


def _earliest(epochs: np.ndarray, keys: np.ndarray) -> tuple[int, float]:
    """The smallest (epoch, key) of a non-empty chunk."""
    epoch = int(epochs.min())
    return epoch, float(keys[epochs == epoch].min())


def _in_order(buf: Buffer, records: Records, keys: np.ndarray, section: np.ndarray,
              epochs: np.ndarray, shared: int) -> Chunk:
    """The chunk sorted by (section, clock epoch, key, position); as it is when already
    in order. Its records' epochs up to `shared` (clock_epochs.shared_epoch) are handed
    on (Records.epoch)."""
    if shared and epochs.size and epochs.max() > 0:
        records.epoch = np.minimum(epochs, shared)
    if keys.size < 2:
        return buf, records
    later = (section[1:] > section[:-1]) | ((section[1:] == section[:-1]) & (
        (epochs[1:] > epochs[:-1]) | ((epochs[1:] == epochs[:-1]) & (keys[1:] >= keys[:-1]))))
    if np.all(later):
        return buf, records
    assert records.position is not None
    return buf, records.take(np.lexsort((records.position, keys, epochs, section)))
