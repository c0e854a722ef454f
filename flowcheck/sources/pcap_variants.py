"""pcap variants with longer record headers, told apart by their first records.

Old patched versions of libpcap wrote pcap files whose record header is the standard one
(seconds, microseconds, captured length, original length: 16 bytes, the pcap draft
draft-ietf-opsawg-pcap) followed by more fields. Wireshark reads and writes four of them
(`editcap -F NAME`); their layouts are those of Wireshark's libpcap file format notes
(wiki Development/LibpcapFileFormat; wiretap's pcaprec_modified_hdr, pcaprec_ss990915_hdr
and pcaprec_nokia_hdr) and Guy Harris's description of the patched header
(tcpdump-workers, September 2003):

  modpcap      magic a1b2cd34, Alexey Kuznetsov's patched libpcap: the standard 16
               bytes, interface index (4), protocol (2), packet type (1), pad (1): 24
  suse6_3pcap  magic a1b2cd34, SuSE 6.3's version of it: the same, CPU numbers (2),
               pad (3): 28
  rh6_1pcap    the standard magic a1b2c3d4, RedHat 6.1's version: 24, as modpcap
  nokiapcap    the standard magic a1b2c3d4, Nokia's tcpdump: 16 + 4 bytes: 20

The extra fields say nothing the Ethernet or cooked header of the packet does not, and
are skipped. Only the magic a1b2cd34 says a file is a variant, not which of its two; two
variants even share the standard magic. So the first records decide: a reading is
plausible when its records have a fraction of a second under one second, a captured
length within the original length and the larger of the snap length and 256 KiB (the
reader's limit), and timestamps within a day of the first record's. Read with a wrong
header size, the second record's header comes from the packet bytes or from the true
header shifted by 4 or 8 bytes (a microsecond value or a captured length as the
seconds, the seconds as the microseconds or as the captured length): implausible at
once. A file with the standard magic is read as a variant only when its standard reading
is implausible and exactly one variant's reading is plausible over RECORDS_JUDGED
records (or all of a shorter file's, at least two): a file whose standard reading is
plausible is always read as before.
"""

from __future__ import annotations

import shlex
import struct

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.sources.pcap import (
    FILE_HEADER_SIZE,
    MAGIC_MODIFIED,
    MAGIC_NSEC,
    MAGICS,
    MIN_MAX_CAPLEN,
    RECORD_HEADER_SIZE,
    PcapParser,
    walk_one_by_one,
)
from flowcheck.sources.records import FormatError

RECORDS_JUDGED = 8  # records a reading must get through to be taken
TIMESTAMP_SPREAD = 86_400.0  # seconds from the first record a plausible one may lie
# Bytes of the file's start looked at, at most, before deciding with what they hold
# (a variant's first records are awaited only when the standard reading already failed).
PROBE_MAX = 4 << 20


@fields_dataclass(frozen=True, slots=True)
class PcapLayout:
    """A pcap record layout: its name (`editcap -F` NAME) and its record header size."""

    name: str
    record_header_size: int


STANDARD = PcapLayout("pcap", RECORD_HEADER_SIZE)
MODIFIED = PcapLayout("modpcap", 24)  # Alexey Kuznetsov's patched libpcap
SUSE_6_3 = PcapLayout("suse6_3pcap", 28)
REDHAT_6_1 = PcapLayout("rh6_1pcap", 24)
NOKIA = PcapLayout("nokiapcap", 20)


@fields_dataclass(frozen=True, slots=True)
class _Reading:
    """How a pcap layout read: records read plausibly, whether one was not, where it ended."""

    plausible: int  # records read plausibly before the first implausible one (or the end)
    implausible: bool  # a record was implausible
    end: int  # offset after the last record read


def pcap_layout(head: bytes | bytearray | memoryview, final: bool, name: str = "FILE", *,
                confirm_standard: bool = True) -> PcapLayout | None:
    """The record layout of the pcap file whose first bytes are head (its magic one of
    pcap.py's), or None while more bytes are needed to tell (final: no more will come).

    confirm_standard: wait for RECORDS_JUDGED records before taking the standard layout
    (files); a pipe's first packets are handed on at once, so a variant with the
    standard magic is recognised there only if its first read shows the second record.
    Raises FormatError (one line: the format, and the editcap command that converts it)
    for a file with the modified magic whose records fit neither of its layouts.
    """
    size = len(head)
    if size < FILE_HEADER_SIZE:
        # The reader reports a file that ends inside its header; a pipe sends more.
        return STANDARD if final else None
    final = final or size >= PROBE_MAX
    order = "<" if struct.unpack_from("<I", head)[0] in MAGICS else ">"
    magic = struct.unpack_from(order + "I", head)[0]
    if magic == MAGIC_NSEC:
        return STANDARD  # no variant has nanosecond timestamps
    snaplen = struct.unpack_from(order + "I", head, 16)[0]
    limit = max(snaplen, MIN_MAX_CAPLEN)
    if magic != MAGIC_MODIFIED:
        standard = _read(head, RECORD_HEADER_SIZE, order, limit)
        if not standard.implausible:
            if standard.plausible < RECORDS_JUDGED and confirm_standard and not final:
                return None
            return STANDARD
        candidates = (REDHAT_6_1, NOKIA)
    else:
        candidates = (MODIFIED, SUSE_6_3)
    readings = {layout: _read(head, layout.record_header_size, order, limit)
                for layout in candidates}
    # The first record is the same in every layout: a variant shows itself from the second.
    least = RECORDS_JUDGED if not final else (2 if magic != MAGIC_MODIFIED else 1)
    waiting = [layout for layout, reading in readings.items()
               if not reading.implausible and reading.plausible < RECORDS_JUDGED]
    if waiting and not final:
        return None
    plausible = [layout for layout, reading in readings.items()
                 if not reading.implausible and reading.plausible >= least]
    if magic == MAGIC_MODIFIED:
        return _modified_layout(readings, plausible, size, name)
    # Both readings plausible (never seen) or neither: read as before (its error, if any,
    # says where the standard reading breaks).
    return plausible[0] if len(plausible) == 1 else STANDARD


def _modified_layout(readings: dict[PcapLayout, _Reading], plausible: list[PcapLayout],
                     size: int, name: str) -> PcapLayout:
    """modpcap or suse6_3pcap, for a file with the magic a1b2cd34 (FormatError if its
    records tell neither)."""
    if len(plausible) > 1:
        # A file of a record or two: the layout whose records end where the file does.
        plausible = [layout for layout in plausible if readings[layout].end == size]
    if len(plausible) == 1:
        return plausible[0]
    if not plausible:
        # Neither plausible throughout (a clock step, a damaged record): the one that
        # reads further plausibly, if one does.
        modified, suse = readings[MODIFIED].plausible, readings[SUSE_6_3].plausible
        if modified != suse:
            return MODIFIED if modified > suse else SUSE_6_3
        if not any(reading.plausible or reading.implausible for reading in readings.values()):
            return MODIFIED  # not one record header: nothing to tell apart, nothing misread
    raise FormatError(
        f"a modified pcap (magic a1b2cd34) whose first records fit neither the {MODIFIED.name}"
        f" nor the {SUSE_6_3.name} record layout: convert it with "
        f"`editcap -F pcap {shlex.quote(name)} {shlex.quote(name + '.pcap')}` (Wireshark)")


def _read(head: bytes | bytearray | memoryview, header_size: int, order: str,
          limit: int) -> _Reading:
    """Up to RECORDS_JUDGED records of head read with this record header size."""
    unpack = struct.Struct(order + "IIII").unpack_from
    off = FILE_HEADER_SIZE
    plausible = 0
    first = None
    while plausible < RECORDS_JUDGED and off + RECORD_HEADER_SIZE <= len(head):
        seconds, fraction, caplen, wirelen = unpack(head, off)
        first = seconds if first is None else first
        if (fraction >= 1_000_000 or caplen > wirelen or caplen > limit
                or abs(seconds - first) > TIMESTAMP_SPREAD):
            return _Reading(plausible, True, off)
        plausible += 1
        off += header_size + caplen
    return _Reading(plausible, False, off)


class PcapVariantParser(PcapParser):
    """PcapParser for a variant's longer record header: the records are walked one at a
    time (the standard walk's fast paths assume 16-byte headers; variants are rare)."""

    def __init__(self, layout: PcapLayout) -> None:
        super().__init__()
        self.record_header_size = layout.record_header_size

    def _walk(self, buf: bytes | bytearray | memoryview,
              off: int) -> tuple[np.ndarray, int, int | None]:
        """Record offsets, the offset after the last complete record, the first bad one."""
        offsets, off, bad_off = walk_one_by_one(buf, off, self.record_header_size,
                                                self.max_caplen, self._caplen_at)
        return np.array(offsets, np.int64), off, bad_off


def pcap_parser(layout: PcapLayout) -> PcapParser:
    """The parser for a layout pcap_layout chose."""
    return PcapParser() if layout is STANDARD else PcapVariantParser(layout)
