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
sent one keyed at or after it; the packets keyed later are held back, and copied in
front of the next chunk when they must merge with it (the overlap of about one block per
interface). An interface that sent nothing in the last SILENT_PACKETS packets holds
nothing back, so memory stays bounded. A file of one interface costs nothing; one whose
interfaces' packets are already in time order a few comparisons per chunk, no copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flowcheck.arrays import distinct
from flowcheck.sources.clock_epochs import StreamClock, confirmed_epoch, settle, shared_epoch
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
        # What is held back: buffer, records, their keys, sections and clock epochs.
        self._held: tuple[Buffer, Records, np.ndarray, np.ndarray, np.ndarray] | None = None
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
            _undo(records, epochs, keys, interface, undone, pre)
            if self._held is not None:
                _undo(self._held[1], self._held[4], self._held[2], interface, undone, pre)
        bound = min((self._clocks[interface].bound()
                     if interface in self._clocks else (confirmed_epoch(self._clocks), -np.inf)
                     for interface in sending), default=(np.iinfo(np.int64).max, np.inf))
        out: list[Chunk] = []
        self._shared = shared_epoch(self._clocks)
        if self._held is not None:
            held_buf, held, held_keys, held_section, held_epochs = self._held
            self._held = None
            if held_section.max() < section.min() or (
                    _latest(held_epochs, held_keys) <= min(bound, _earliest(epochs, keys))):
                # All of it before this chunk and before anything still to come.
                out.append(_in_order(held_buf, held, held_keys, held_section, held_epochs,
                                     self._shared))
            else:
                buf, records = _joined(held_buf, held, buf, records)
                keys = np.concatenate([held_keys, keys])
                section = np.concatenate([held_section, section])
                epochs = np.concatenate([held_epochs, epochs])
        ready = (section < newest) | (epochs < bound[0]) | (
            (epochs == bound[0]) & (keys <= bound[1]))
        if ready.all():
            out.append(_in_order(buf, records, keys, section, epochs, self._shared))
            return out
        rows, rest = np.flatnonzero(ready), np.flatnonzero(~ready)
        if rows.size:
            out.append(_in_order(buf, records.take(rows), keys[rows], section[rows],
                                 epochs[rows], self._shared))
        self._held = (buf, records.take(rest), keys[rest], section[rest], epochs[rest])
        return out

    def flush(self) -> list[Chunk]:
        """What is held back, in order (at the end of the file or of its pcapng part)."""
        if self._held is None:
            return []
        buf, records, keys, section, epochs = self._held
        self._held = None
        # The interfaces ended: a step none can follow now and not shown to stay is
        # undone (records written late), as another's going on TOGETHER past it would.
        for interface, undone, pre in settle(self._clocks, [], final=True):
            _undo(records, epochs, keys, interface, undone, pre)
        return [_in_order(buf, records, keys, section, epochs, self._shared)]

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
            if undone is not None and self._held is not None:
                # a step these packets undid: the interface's held packets of its epoch
                _undo(self._held[1], self._held[4], self._held[2], interface, *undone)
            self._last[interface] = self._read + int(np.flatnonzero(mask)[-1]) + 1
        self._read += len(records)
        return epochs, keys


def _undo(records: Records, epochs: np.ndarray, keys: np.ndarray, interface: int,
          undone: int, pre: float) -> None:
    """Key an interface's packets of an undone clock epoch in the epoch before, at its
    running maximum (in place)."""
    assert records.interface is not None
    mask = (records.interface == interface) & (epochs == undone)
    epochs[mask] = undone - 1
    keys[mask] = np.maximum(keys[mask], pre)


def _earliest(epochs: np.ndarray, keys: np.ndarray) -> tuple[int, float]:
    """The smallest (epoch, key) of a non-empty chunk."""
    epoch = int(epochs.min())
    return epoch, float(keys[epochs == epoch].min())


def _latest(epochs: np.ndarray, keys: np.ndarray) -> tuple[int, float]:
    """The largest (epoch, key) of a non-empty chunk."""
    epoch = int(epochs.max())
    return epoch, float(keys[epochs == epoch].max())


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


def _joined(held_buf: Buffer, held: Records, buf: Buffer, records: Records) -> Chunk:
    """The held packets' bytes copied in front of buf (in bulk), with the records of
    both pointing into the new buffer."""
    lengths = held.caplen.astype(np.int64)
    total = int(lengths.sum())
    starts = np.zeros(len(held), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    joined = np.empty(total + len(buf), np.uint8)
    if total:
        source = np.frombuffer(held_buf, np.uint8)
        index = (np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
                 + np.repeat(held.data_off.astype(np.int64), lengths))
        joined[:total] = source[index]
    joined[total:] = np.frombuffer(buf, np.uint8)
    assert held.interface is not None and records.interface is not None
    assert held.position is not None and records.position is not None
    merged = Records(
        np.concatenate([held.ts, records.ts]),
        np.concatenate([starts, records.data_off + total]),
        np.concatenate([held.caplen, records.caplen]),
        np.concatenate([held.wirelen, records.wirelen]),
        np.concatenate([held.linktype, records.linktype]),
        np.concatenate([held.interface, records.interface]),
        np.concatenate([held.position, records.position]),
        None if held.identity is None and records.identity is None else np.concatenate(
            [np.full(len(part), -1, np.int64) if part.identity is None else part.identity
             for part in (held, records)]))
    return memoryview(joined), merged
