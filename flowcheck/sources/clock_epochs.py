"""Clock epochs: the streams of one capture host whose clock stepped back together.

A pcapng of one interface per direction, or two taps writing one file per direction,
are streams stamped by one host's clock. When that clock is set back (an NTP step,
any size), each stream keeps its own order but goes back in time at the same moment.
Keyed by the running maximum of its timestamps (sources.interface_order,
sources.merge), every post-step packet of a stream would key at its pre-step maximum,
and the merge would put all of one stream's post-step packets before the other's,
replies before their requests (field check trial 36 D1).

So each stream counts its clock's epochs: a timestamp more than STEP_BACK below the
stream's running maximum starts a new epoch (its key's running maximum starts anew),
and the streams merge by (epoch, key). A stream's step stays pending until every other
stream still sending has stepped too (alone, it stays pending: its own order is kept
either way) (the merge holds the new epoch's packets back
until then, as it holds packets keyed later); when another stream goes on more than
TOGETHER past the stepping stream's pre-step maximum without stepping, the step was
that stream's alone (records written out of time order, one tap's clock): it is
undone, and the stream's packets key by its running maximum as before. A stream
opened later (a file of a ring buffer) starts in the latest confirmed epoch.

Records written out of order (a NIC's queues, `-i any` per-CPU rings, a busy host: one
record a few ms behind, then the stream goes on above its maximum) in two streams
within TOGETHER would look like a shared step, and up to TOGETHER of one stream's
packets would be put after the other's. One clock's steps went back over the same
stretch of time, so steps are confirmed only when their spans (jumped to, pre-step
maximum) overlap and each was shown to stay behind or not; and a stream that did not
stay behind (its first timestamp STEP_BACK after the jump is within STEP_BACK of the
pre-step maximum: a late record) is undone as soon as another stream's step in the
epoch is apart from it, or stayed behind and went back more than TOGETHER further (a
clock set back leaves every stream sending behind), or no other stream can step with
it any more (they ended), or the stream jumps back again (its next late record, or
the clock's own step, found in the same chunk too: StreamClock.keys). While a
stream's step is not shown to stay, both merges (sources.interface_order,
sources.merge) hold its new epoch back (StreamClock.bound), and a set's files are
read in the order of the keys they have without such steps (merge.Lane.position).

Limits: a late record less than TOGETHER before a clock step smaller than TOGETHER
may be taken for that step when another stream's step is read before the stream's
own (small chunks); late records of two streams whose spans overlap still read as a
shared step (unless the next late record of one is in the same chunk); up to
TOGETHER of the streams' packets are held back while a late record's step waits.

State per stream: a few floats and ints; per chunk a few vector operations, and a
look a few packets ahead at each jump back.
"""

from __future__ import annotations

import numpy as np

# s: a stream's timestamp this far below its running maximum is a clock step back; less
# is the stream's own reordering (records written out of order by a NIC's queues).
STEP_BACK = 0.001
# s: another stream that goes on this far past a step's pre-step maximum without
# stepping shows that the step was not the capture host's clock.
TOGETHER = 1.0


class StreamClock:
    """One stream's clock epoch and running maximum within it."""

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch
        self.max = -np.inf  # s: running maximum of the stream's timestamps in its epoch
        self.pre: float | None = None  # s: running maximum before a pending step
        self.until = np.inf  # s: stream time the stream must reach still behind `pre`
        self.stayed = False  # the stream stayed behind: the pending step may be a step
        self.returned = False  # it went back to `pre` first: records out of order
        self.span: tuple[float, float] | None = None  # s: (jumped to, pre) of its step

    def keys(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, float] | None]:
        """(epochs int64, keys float64 s) of the stream's next timestamps (in order), and
        the step pending before them that they undid, as (its epoch, its pre-step
        maximum s), or None: the caller keys its packets of that epoch already held at
        max(key, pre-step maximum) in the epoch before (as for settle's).

        A pending step that went back to its pre-step maximum at once (`returned`: a
        record written late, or a step of a ms or two) is undone by the stream's next
        jump back (another late record, or the clock's own step): the stream's keys are
        then those it has without it, and the jump is looked for in them. One that stays
        behind, or is not shown either way yet, looks for no new jump. Cost: a few vector
        operations over the chunk, and a look a few packets ahead at each jump."""
        count = len(ts)
        epochs = np.full(count, self.epoch, np.int64)
        keys = np.empty(count)
        undone: tuple[int, float] | None = None
        if not count:
            return epochs, keys, undone
        # s: the running maximum the stream has without its pending step (if undone)
        base = self.max if self.pre is None else max(self.max, self.pre)
        without = np.maximum(np.maximum.accumulate(ts), base)
        region, region_base = 0, self.max  # rows keyed in self.epoch from region on
        scan = 0  # jumps are looked for from this row on
        if self.pre is not None and not self.returned:
            scan = count if self.stayed else self._decide(ts, 0)
        carried = self.pre is not None  # the pending step began before this chunk
        if scan < count:
            before = np.empty(count)
            before[0], before[1:] = base, without[:-1]
            for jump in map(int, np.flatnonzero(ts < before - STEP_BACK)):
                if jump < scan:
                    continue  # behind a step not shown to stay or not yet
                if self.pre is not None:  # a step that returned: the stream went on
                    epochs[region:jump] = self.epoch - 1
                    keys[region:jump] = without[region:jump]
                    if carried:
                        undone, carried = self.undo(), False
                    else:
                        self.undo()
                else:
                    _fill(epochs, keys, ts, region, jump, self.epoch, region_base)
                self.pre, self.until = float(before[jump]), float(ts[jump]) + STEP_BACK
                self.stayed = self.returned = False
                self.span = (float(ts[jump]), self.pre)
                self.epoch += 1
                region, region_base = jump, -np.inf
                scan = self._decide(ts, jump)
                if scan >= count:
                    break
        _fill(epochs, keys, ts, region, count, self.epoch, region_base)
        self.max = float(keys[-1])
        return epochs, keys, undone

    def _decide(self, ts: np.ndarray, start: int) -> int:
        """Whether the stream, after its jump back, stays behind: its first timestamp
        STEP_BACK past the jump's (from row `start` on) still more than STEP_BACK below
        the pre-step maximum (a clock set back), or not (a record written late, then
        the stream goes on). Returns the row new jumps are looked for from: the one
        after it when it did not stay, else len(ts)."""
        assert self.pre is not None
        reach = _first_at_least(ts, start, self.until)
        if reach is None:
            return len(ts)
        self.stayed = bool(ts[reach] < self.pre - STEP_BACK)
        self.returned = not self.stayed
        return len(ts) if self.stayed else reach + 1

    def bound(self) -> tuple[int, float]:
        """(epoch, key s) the stream's later packets key at or after: while its step is
        not shown to stay, its running maximum before it (it may be undone)."""
        if self.pre is not None and not self.stayed:
            return self.epoch - 1, self.pre
        return self.epoch, self.max

    def undo(self) -> tuple[int, float]:
        """Undo the pending step: (the epoch it had started, the pre-step maximum); the
        packets of that epoch key at max(key, pre-step maximum) in the epoch before."""
        assert self.pre is not None
        undone, pre = self.epoch, self.pre
        self.epoch -= 1
        self.max = max(self.max, pre)
        self.pre = None
        self.stayed = self.returned = False
        self.span = None
        return undone, pre


def _fill(epochs: np.ndarray, keys: np.ndarray, ts: np.ndarray, start: int, stop: int,
          epoch: int, base: float) -> None:
    """Rows start..stop keyed in `epoch` by their running maximum from `base` (s)."""
    if start < stop:
        epochs[start:stop] = epoch
        keys[start:stop] = np.maximum(np.maximum.accumulate(ts[start:stop]), base)


def _first_at_least(ts: np.ndarray, start: int, until: float) -> int | None:
    """The first row from `start` on whose timestamp is at least `until`, or None; looked
    for in windows doubling from a few packets (the next one, after a late record)."""
    width = 16
    while start < len(ts):
        hits = np.flatnonzero(ts[start:start + width] >= until)
        if hits.size:
            return start + int(hits[0])
        start += width
        width *= 2
    return None


def settle(clocks: dict[int, StreamClock], sending: list[int], final: bool = False,
           ) -> list[tuple[int, int, float]]:
    """Confirm or undo the pending steps of `clocks` (by stream id) against the streams
    still sending; returns the undone ones as (stream, epoch undone, pre-step maximum).
    `final`: no stream opens or sends again but those sending.

    Steps of one clock went back over the same stretch of time: a pending step is
    confirmed once every other stream reached its epoch with a step whose span
    (jumped to, pre-step maximum) overlaps its own, each shown to stay behind or not.
    One that did not stay behind (a record written late) is undone when another
    stream's step in the epoch is apart from it (the two streams' late records) or
    stayed behind (a clock set back leaves every stream behind at once), or another
    stream goes TOGETHER past it without stepping, or every other stream ended (final):
    none can step with it. Steps are confirmed against the streams as they are once
    those are undone."""
    undo: list[int] = []
    for stream, clock in clocks.items():
        if clock.pre is None:
            continue
        others = _others(clocks, sending, stream)
        same = [other for other in others if other.epoch == clock.epoch]
        apart = [other for other in same if not _overlap(clock.span, other.span)]
        if (apart and not clock.stayed) or (
                clock.returned and any(other.stayed and _size(other) > _size(clock) + TOGETHER
                                       for other in same)) or any(
                other.max > clock.pre + TOGETHER for other in others
                if other.epoch < clock.epoch) or (final and not others and not clock.stayed):
            undo.append(stream)
    undone = [(stream, *clocks[stream].undo()) for stream in undo]
    for stream, clock in clocks.items():
        if clock.pre is None or not _shown(clock):
            continue
        others = _others(clocks, sending, stream)
        if others and all(other.epoch > clock.epoch or (
                other.epoch == clock.epoch and _overlap(clock.span, other.span)
                and _shown(other)) for other in others):
            clock.pre = None
    return undone


def _others(clocks: dict[int, StreamClock], sending: list[int], stream: int,
            ) -> list[StreamClock]:
    """The clocks of the streams still sending but `stream`."""
    return [clocks[other] for other in sending if other != stream and other in clocks]


def _size(clock: StreamClock) -> float:
    """How far the stream's step went back (s): pre-step maximum - time jumped to."""
    return 0.0 if clock.span is None else clock.span[1] - clock.span[0]


def _shown(clock: StreamClock) -> bool:
    """Whether the stream's step, if pending, was shown to stay behind or not."""
    return clock.pre is None or clock.stayed or clock.returned


def _overlap(one: tuple[float, float] | None, other: tuple[float, float] | None) -> bool:
    """Whether two steps' spans (jumped to, pre-step maximum; s) share a moment."""
    if one is None or other is None:
        return False
    return max(one[0], other[0]) <= min(one[1], other[1])


def shared_epoch(clocks: dict[int, StreamClock]) -> int:
    """The latest epoch at least two streams reached (a step of the capture host's
    clock, not one stream's own): epochs up to it are handed on (Records.epoch)."""
    reached = sorted(clock.epoch - (clock.pre is not None) for clock in clocks.values())
    return reached[-2] if len(reached) >= 2 else 0


def confirmed_epoch(clocks: dict[int, StreamClock]) -> int:
    """The epoch a stream opened now starts in: the latest all streams reached."""
    return max((clock.epoch - (clock.pre is not None) for clock in clocks.values()), default=0)


# Frames kept of the latest packets (those a new epoch's first packets may follow in the
# merged order while written after them) and of an epoch's exceptions.
RECENT_FRAMES = 65_536


class EpochFrames:
    """Which frame is in which clock epoch, from the merged stream's (frame, epoch).

    Epoch e begins at starts[e-1], the smallest frame of a packet in epoch e or later;
    the frames after it still in an earlier epoch (another interface's packets written
    after the first interface's step, before its own) are earlier[e-1]. In a set of
    files the frames follow the merged order, so there are none; in a pcapng file of one
    interface per direction only those of the moment the streams stepped. Memory: the
    latest RECENT_FRAMES frames and at most RECENT_FRAMES exceptions per epoch."""

    def __init__(self) -> None:
        # The merged stream's frames only ever rose: its frame order is the merge's
        # (always for a set of files; for a pcapng of several interfaces, when it was
        # written in time order within each epoch), an event order as one interface's.
        self.in_frame_order = True
        self.starts: list[int] = []
        self.earlier: list[set[int]] = []
        self._recent: list[tuple[np.ndarray, np.ndarray]] = []  # (frames, epochs)
        self._recent_count = 0

    def see(self, frames: np.ndarray, epochs: np.ndarray | None) -> None:
        """The next packets of the merged stream: their frames and epochs (None: 0)."""
        if not frames.size:
            return
        if epochs is None:
            if not self.starts:
                return  # nothing stepped yet: nothing to keep
            epochs = np.zeros(frames.size, np.int64)
        for epoch in range(len(self.starts) + 1, int(epochs.max()) + 1):
            self.starts.append(int(frames[epochs >= epoch].min()))
            self.earlier.append(set())
            self._add_recent(epoch)
        for epoch, start in enumerate(self.starts, 1):
            later = frames[epochs >= epoch]
            if later.size and int(later.min()) < start:
                self.starts[epoch - 1] = int(later.min())
                self._add_recent(epoch)
            behind = frames[(epochs < epoch) & (frames >= self.starts[epoch - 1])]
            self._add(epoch, behind)
        self._recent.append((frames, epochs))
        self._recent_count += frames.size
        while self._recent_count - self._recent[0][0].size >= RECENT_FRAMES:
            self._recent_count -= self._recent.pop(0)[0].size

    def _add_recent(self, epoch: int) -> None:
        """The kept frames of packets before `epoch` at or after its start."""
        start = self.starts[epoch - 1]
        for frames, epochs in self._recent:
            self._add(epoch, frames[(epochs < epoch) & (frames >= start)])

    def _add(self, epoch: int, frames: np.ndarray) -> None:
        earlier = self.earlier[epoch - 1]
        if frames.size and len(earlier) < RECENT_FRAMES:
            earlier.update(frames[:RECENT_FRAMES - len(earlier)].tolist())

    def of(self, frame: int) -> int:
        """The clock epoch of the packet at frame."""
        return sum(1 for start, earlier in zip(self.starts, self.earlier, strict=True)
                   if frame >= start and frame not in earlier)
