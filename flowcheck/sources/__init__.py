"""Capture sources: pcap and pcapng files (gzip too), directories, standard input, pipes.

`iter_batches` is the only way packets enter flowcheck. It yields PacketBatch objects in
the capture set's merged time order and fills `.captures` (one CaptureInfo per file) as
it reads. Input that cannot be read at all raises InputError; a file read only in part
is marked truncated and becomes a `capture_truncated` finding.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import BinaryIO

import numpy as np

from flowcheck.errors import InputError
from flowcheck.findings import make_finding
from flowcheck.model import CaptureInfo, Finding
from flowcheck.sources.batch import CHUNK_BYTES, PacketBatch
from flowcheck.sources.clock_epochs import EpochFrames
from flowcheck.sources.frame_files import FrameFiles
from flowcheck.sources.inputs import InputSpec, resolve_inputs, shown_name
from flowcheck.sources.joined_pieces import FilePieces
from flowcheck.sources.merge import Lane, merge_lanes
from flowcheck.sources.reader import CaptureFile
from flowcheck.sources.ring_order import ring_write_order
from flowcheck.sources.tail import last_record_ts

__all__ = ["CaptureSetReader", "iter_batches", "read_failure", "read_failures",
           "truncation_findings"]


class CaptureSetReader:
    """Iterable over the PacketBatch stream of a capture set (iterate once)."""

    def __init__(self, inputs: Sequence[str | BinaryIO], *, chunk_size: int = CHUNK_BYTES,
                 progress: bool = False, read_ahead: bool = True,
                 shifts: Mapping[int, float] | None = None,
                 pieces: FilePieces | None = None) -> None:
        specs = resolve_inputs(list(inputs))
        files = [CaptureFile(spec, chunk_size, read_ahead=read_ahead) for spec in specs]
        self._progress = progress
        self._started = False
        self._packets = 0  # yielded so far (the progress bar's packets/s)
        # The clock epoch of each frame, once the capture host's clock stepped back on
        # all its streams at once (sources.clock_epochs).
        self.clock_epochs = EpochFrames()
        if pieces is not None and len(files) == 1 and files[0].spec.reopenable:
            self._read_pieces(files[0], pieces, chunk_size, read_ahead)
            return
        shifts = dict(shifts or {})
        first_keys: dict[int, float | None] = {}
        for number, capture in enumerate(files):
            if capture.spec.reopenable:
                first = capture.probe_first_ts()
                first_keys[number] = None if first is None else first + shifts.get(number, 0.0)
        failed = [capture for capture in files if capture.info.error and not capture.info.packets
                  and capture.spec.reopenable and not capture.info.truncated]
        if len(failed) == len(files):
            raise InputError(_nothing_read(failed))
        # One ring's files in the order the sniffer wrote them (sources.ring_order), read
        # one after another; any other set's in order of their first packet, then
        # streams (their first packet is unknown).
        ring = ring_write_order([capture.spec.path for capture in files],
                                [first_keys.get(n) for n in range(len(files))],
                                lambda n: _mtime(files[n].spec.path),
                                lambda n: _last_key(files[n].spec.path, shifts.get(n, 0.0)))
        # The files are one ring read in its write order (ClockSteps.one_stream).
        self.ring_ordered = ring is not None
        order = ring if ring is not None else sorted(range(len(files)), key=lambda n: (
            n not in first_keys, _or_minus_inf(first_keys.get(n)), n))
        self._files = [files[n] for n in order]
        # Lanes keep the input position: equal timestamps merge in the order given.
        self._lanes = [Lane(files[n], n, first_keys.get(n), shifts.get(n, 0.0),
                            numbered=len(files) > 1) for n in order if files[n] not in failed]
        self.captures: list[CaptureInfo] = [capture.info for capture in self._files]
        # Lane.index (input position) -> position in `captures` (PacketBatch.capture).
        self._capture_of = np.empty(len(files), np.int32)
        self._capture_of[order] = np.arange(len(files), dtype=np.int32)
        # Position in `captures` -> input position (the key of `shifts`).
        self.input_positions: list[int] = order
        self._shifts = shifts
        # Every file can be read again (no standard input or pipe): heads, shifts.
        self.reopenable = all(capture.spec.reopenable for capture in files)
        # A set of several files: each frame's file and frame in it (sources.frame_files);
        # None for one file (its frames are its own).
        self.frame_files: FrameFiles | None = None
        if len(files) > 1:
            alone = (int(self._capture_of[self._lanes[0].index])
                     if len(self._lanes) == 1 else None)
            self.frame_files = FrameFiles(alone)

    def spec(self, index: int) -> InputSpec:
        """The input of file `index` of `captures`."""
        return self._files[index].spec

    def _read_pieces(self, capture: CaptureFile, pieces: FilePieces, chunk_size: int,
                     read_ahead: bool) -> None:
        """One file read as its pieces merged by time (sources.joined_pieces): a lane
        per piece, each its own reading of the file; the last piece's reading goes to
        the file's end, so its CaptureInfo is the file's (the others' are dropped).
        Frames are numbered in the merged order, as the file sorted by time numbers
        them (reordercap). The progress bar follows the last piece's reading (it goes
        over the whole file's bytes)."""
        readings = [capture] + [CaptureFile(capture.spec, chunk_size, read_ahead=read_ahead)
                                for _ in range(len(pieces) - 1)]
        last = readings[-1]
        self._files = [last]
        self._lanes = [Lane(reading, n, pieces.first_ts[n], rows=pieces.rows(n))
                       for n, reading in enumerate(readings)]
        self.captures = [last.info]
        self.ring_ordered = False  # one file's pieces merged by time, no ring
        self._capture_of = np.zeros(len(readings), np.int32)
        self.input_positions = [0]
        self._shifts = {}
        self.reopenable = True
        self.frame_files = None  # one file: its frames are its own

    def __iter__(self) -> Iterator[PacketBatch]:
        if self._started:
            raise RuntimeError("a capture set can be read only once")
        self._started = True
        progress = self._make_progress() if self._progress else None
        frame = 1
        try:
            for buf, records, lane in merge_lanes(self._lanes,
                                                  progress.update if progress else None,
                                                  in_order=self.ring_ordered):
                capture = (int(self._capture_of[lane]) if isinstance(lane, int)
                           else self._capture_of[lane])
                frames = None
                if records.position is not None and len(self._lanes) == 1 and len(records):
                    # One file: its frame numbers, as Wireshark's (read in time order
                    # across its interfaces, custom blocks numbered).
                    frames = records.position + 1
                    if np.array_equal(frames, np.arange(frame, frame + len(records))):
                        frames = None
                batch = PacketBatch(buf, frame, records.ts, records.data_off, records.caplen,
                                    records.wirelen, records.linktype, capture,
                                    records.interface, frames, records.identity,
                                    records.epoch)
                if frames is not None and len(frames) and (
                        frames[0] < frame or np.any(frames[1:] <= frames[:-1])):
                    self.clock_epochs.in_frame_order = False
                if records.epoch is not None or self.clock_epochs.starts:
                    self.clock_epochs.see(
                        np.arange(frame, frame + len(records)) if frames is None else frames,
                        records.epoch)
                if self.frame_files is not None and self.frame_files.alone is None:
                    self.frame_files.add(frame, capture, records.position, len(records))
                self._packets += len(batch)
                frame = frame + len(batch) if frames is None else int(frames.max()) + 1
                yield batch
        finally:
            if progress is not None:
                progress.close()
        for number, shift in self._shifts.items():
            info = self._files[int(self._capture_of[number])].info
            if info.stopped_at is not None:
                info.stopped_at += shift
        if all(info.error and not info.packets and not info.truncated
               for info in self.captures):
            raise InputError(_nothing_read(self._files))

    def heads(self, size: int) -> Iterator[PacketBatch]:
        """The first records of each file (at most `size` bytes of it), one batch per
        file (PacketBatch.capture its place in `captures`), read apart from the merged
        stream, times shifted as the stream's are; only when `reopenable`."""
        for index, capture in enumerate(self._files):
            probe = CaptureFile(capture.spec, size, read_ahead=False)
            chunks = probe.chunks()
            try:
                for buf, records in chunks:
                    shift = self._shifts.get(self.input_positions[index], 0.0)
                    yield PacketBatch(buf, 1, records.ts + shift, records.data_off,
                                      records.caplen, records.wirelen, records.linktype, index,
                                      records.interface, identity=records.identity)
                    break
            finally:
                chunks.close()

    def _make_progress(self):  # noqa: ANN202 - the type lives in a lazily imported module
        from flowcheck.sources.progress import ByteProgress

        sizes = [capture.spec.size for capture in self._files]
        total = sum(size for size in sizes if size) if all(sizes) else None
        return ByteProgress(total, lambda: sum(capture.raw_done for capture in self._files),
                            lambda: self._packets)


def iter_batches(inputs: Sequence[str | BinaryIO], *, chunk_size: int = CHUNK_BYTES,
                 progress: bool = False, read_ahead: bool = True,
                 shifts: Mapping[int, float] | None = None,
                 pieces: FilePieces | None = None) -> CaptureSetReader:
    """The PacketBatch stream of a capture set: files, directories, "-" or open streams.

    chunk_size  bytes read at a time from each file (a batch covers at most one chunk)
    read_ahead  read each regular file's next chunk in a background thread while the
                caller works on the current batch (never pipes or terminals); the
                batches are the same either way
    shifts      seconds added to every time of a file, by input position (the order of
                the resolved inputs, CaptureSetReader.input_positions): a capture
                point's clock set to another's (flowcheck.connections.points)
    pieces      one file's pieces joined out of time order, read merged by time
                (sources.joined_pieces; flowcheck.connections.joined_order decides)
    """
    return CaptureSetReader(inputs, chunk_size=chunk_size, progress=progress,
                            read_ahead=read_ahead, shifts=shifts, pieces=pieces)


GROWING_FIX = ("Run flowcheck again to read the packets written since, or once the capture "
               "has stopped, to check the whole job.")


# capture_unreadable's fix for `-`: a pipe has no file to check, its writer does (the
# words review of field check 60: "Check that file" of standard input).
STDIN_UNREADABLE_FIX = (
    "Check what feeds standard input: the command before the pipe must write a pcap or "
    "pcapng capture to its standard output (tcpdump -w -, dumpcap -w -, tshark -w -; "
    "tcpdump without -w prints text); if it did, it failed or stopped before its first "
    "packet (its error is on its own standard error). A file redirected with < must be a "
    "whole capture.")


def truncation_findings(captures: Sequence[CaptureInfo],
                        spans: Mapping[str, tuple[float, float]] | None = None
                        ) -> list[Finding]:
    """A `capture_truncated` finding per file read only in part, `capture_unreadable` per
    file of the set that could not be read at all (the others still are). spans: each
    file's (first, last) packet time in seconds, by path: a cut file's finding is dated
    at its last packet read (docs/json.md `ts`: null only for what no packet dates)."""
    findings = []
    for info in captures:
        if info.beside:
            findings.append(skipped_finding(info))
        if not (info.truncated or info.error):
            continue
        if not info.packets:  # cut or corrupt before its first packet: nothing read
            findings.append(make_finding(
                "capture_unreadable",
                f"{read_failure(info)}; the analysis covers the other files of the capture "
                "set",
                STDIN_UNREADABLE_FIX if info.path == "-" else
                "Check that file: it is empty, cut or corrupt before its first packet, not a "
                "pcap/pcapng capture, or not readable.",
            ))
            continue
        # The file named first, whatever the reader's words (newuser54: a ring's corrupt
        # pcapng block read "block at byte offset 2144 has ...", naming no file).
        cause = read_failure(info)
        span = (spans or {}).get(info.path)
        findings.append(make_finding(
            "capture_truncated",
            f"{cause}; the analysis covers the {info.packets} "
            f"packet{'' if info.packets == 1 else 's'} read before that point",
            GROWING_FIX if info.growing else
            "Read a complete copy of the capture: stop tcpdump/dumpcap cleanly (or use -U) "
            "before copying the file, and check the transfer was not cut short.",
            ts=span[1] if span else None,
        ))
    return findings


def skipped_finding(info: CaptureInfo) -> Finding:
    """capture_files_skipped: files of other capture formats in the directory of info's
    file, left out (trial 24 D12: a NetMon capture beside a pcapng, perhaps the other
    capture point's, was left out without a word)."""
    folder = os.path.dirname(info.path) or "."
    return make_finding(
        "capture_files_skipped",
        f"The directory {folder} also holds files of capture formats flowcheck does not "
        f"read, left out of the analysis: {'; '.join(info.beside)}.",
        "Convert them as said and give flowcheck the converted files with the others (a "
        "second capture point's file shows what the first could not).")


def read_failure(info: CaptureInfo) -> str:
    """Why a file gave no packet, its path first ("x.pcap: record at byte offset 24
    claims a captured length of ..."); the reader's info.error (it sets one for every file
    it could not read, or read only in part)."""
    error = info.error or "unreadable"
    name = shown_name(info.path)  # `standard input` for `-`, as the reader names it
    return error if error.startswith(f"{name}: ") else f"{name}: {error}"


def read_failures(captures: Sequence[CaptureInfo]) -> str:
    """read_failure of the first file, and how many more failed: "x.pcap: empty file
    (and 2 more)"."""
    more = f" (and {len(captures) - 1} more)" if len(captures) > 1 else ""
    return read_failure(captures[0]) + more


def _nothing_read(files: Sequence[CaptureFile]) -> str:
    infos = [capture.info for capture in files]
    if len(infos) == 1:
        return read_failure(infos[0])
    return f"no capture could be read: {read_failures(infos)}"


def _mtime(path: str | None) -> int | None:
    """The file's modification time (ns), None for a stream or a file not there."""
    try:
        return None if path is None else os.stat(path).st_mtime_ns
    except OSError:
        return None


def _last_key(path: str | None, shift: float) -> float | None:
    """The file's last record time (sources.tail) with its shift, s; None: unknown."""
    last = None if path is None else last_record_ts(path)
    return None if last is None else last + shift


def _or_minus_inf(value: float | None) -> float:
    return float("-inf") if value is None else value
