"""editcap's frame selection and time shift and mergecap's appending, done on the bytes.

test_verify_unexplained cut every stored capture five ways with editcap and mergecap
(about 1,000 process starts a run). These functions write the files those commands wrote,
byte for byte, for the captures the tests cut: a little-endian microsecond pcap, or a
little-endian pcapng whose blocks are a section header, interface descriptions, enhanced
packet blocks and interface statistics. Anything else raises ValueError rather than
guessing what Wireshark's tools would write. test_capture_edit compares them with the
tools themselves.

What editcap 4.0 writes (`editcap [-r] [-t SECONDS] IN OUT FRAMES`, output pcapng):
- from a pcap: a section header whose only option is shb_userappl (editcap's own version
  line), one interface description (the link type and snap length, no option) and an
  enhanced packet block per kept record (interface 0, microseconds, no option);
- from a pcapng: the section header and interface descriptions as they are, the kept
  packet blocks as they are, the interface statistics left out;
- -t: each kept packet's time moved, in its interface's if_tsresol units.
What `mergecap -a -F pcap -w OUT A B` writes from two such files: a little-endian
microsecond pcap header (the link type; snap length 262144, wiretap's standard maximum,
as a pcapng file gives mergecap none of its own) and each packet of A, then of B, as a
record (time truncated to microseconds).
"""

from __future__ import annotations

import functools
import struct
import subprocess
from collections.abc import Container, Iterator

_PCAPNG = b"\x0a\x0d\x0d\x0a"
_LITTLE = b"\x4d\x3c\x2b\x1a"
_PCAP_MICROS = b"\xd4\xc3\xb2\xa1"  # little-endian, microseconds
_SECTION, _INTERFACE, _ENHANCED, _STATISTICS = 0x0A0D0D0A, 1, 6, 5
_USERAPPL, _TSRESOL = 4, 9
_MERGED_SNAPLEN = 262144  # WTAP_MAX_PACKET_SIZE_STANDARD


@functools.cache
def editcap_application() -> str:
    """The shb_userappl editcap writes: its version line without the final period
    ("Editcap (Wireshark) 4.0.17 (Git v4.0.17 packaged as 4.0.17-0+deb12u3)")."""
    line = subprocess.run(["editcap", "--version"], capture_output=True, text=True,
                          check=True).stdout.splitlines()[0]
    return line.removesuffix(".")


def _padded(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def _blocks(data: bytes) -> Iterator[tuple[int, bytes]]:
    """A little-endian pcapng file's blocks: (type, the whole block's bytes)."""
    if data[8:12] != _LITTLE:
        raise ValueError("not a little-endian pcapng")
    offset = 0
    while offset + 12 <= len(data):
        kind, length = struct.unpack_from("<II", data, offset)
        yield kind, data[offset:offset + length]
        offset += length


def _records(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """A little-endian microsecond pcap file's records: (seconds, microseconds, wire
    length, frame bytes)."""
    offset = 24
    while offset + 16 <= len(data):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", data, offset)
        yield sec, usec, wirelen, data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen


def _resolution(interface: bytes) -> int:
    """An interface description block's time units a second (if_tsresol; 10**6 without
    it)."""
    offset = 16
    while offset + 4 <= len(interface) - 4:
        code, length = struct.unpack_from("<HH", interface, offset)
        if code == 0:
            break
        if code == _TSRESOL:
            value = interface[offset + 4]
            if value & 0x80:
                raise ValueError("if_tsresol in powers of two")
            return 10 ** value
        offset += 4 + length + (-length % 4)
    return 10 ** 6


def _enhanced(interface: int, stamp: int, wirelen: int, frame: bytes) -> bytes:
    return _block(_ENHANCED, struct.pack("<IIIII", interface, stamp >> 32,
                                         stamp & 0xFFFFFFFF, len(frame), wirelen)
                  + _padded(frame))


def _shifted(block: bytes, units: int) -> bytes:
    """An enhanced packet block with its time moved by `units`."""
    interface, high, low = struct.unpack_from("<III", block, 8)
    stamp = (high << 32 | low) + units
    return block[:12] + struct.pack("<II", stamp >> 32, stamp & 0xFFFFFFFF) + block[20:]


def editcap(data: bytes, frames: Container[int], *, keep: bool,
            shift_seconds: int = 0) -> bytes:
    """What `editcap [-r] [-t shift_seconds] IN OUT RANGE` writes from the capture `data`:
    the frames numbered (from 1) in `frames` when `keep` (-r), else the others."""
    out = []
    if data[:4] == _PCAPNG:
        resolutions: list[int] = []
        number = 0
        for kind, block in _blocks(data):
            if kind == _ENHANCED:
                number += 1
                if (number in frames) == keep:
                    units = shift_seconds * resolutions[struct.unpack_from("<I", block, 8)[0]]
                    out.append(_shifted(block, units) if units else block)
            elif kind == _INTERFACE:
                resolutions.append(_resolution(block))
                out.append(block)
            elif kind == _SECTION:
                if out:
                    raise ValueError("a second section")
                out.append(block)
            elif kind != _STATISTICS:
                raise ValueError(f"pcapng block type {kind}")
        return b"".join(out)
    if data[:4] != _PCAP_MICROS:
        raise ValueError("not a little-endian microsecond pcap")
    snaplen, linktype = struct.unpack_from("<II", data, 16)
    application = editcap_application().encode()
    option = struct.pack("<HH", _USERAPPL, len(application)) + _padded(application)
    out.append(_block(_SECTION, _LITTLE + struct.pack("<HHq", 1, 0, -1) + option
                      + b"\x00" * 4))
    out.append(_block(_INTERFACE, struct.pack("<HHI", linktype, 0, snaplen)))
    for number, (sec, usec, wirelen, frame) in enumerate(_records(data), 1):
        if (number in frames) == keep:
            out.append(_enhanced(0, (sec + shift_seconds) * 10**6 + usec, wirelen, frame))
    return b"".join(out)


def mergecap_append(*parts: bytes) -> bytes:
    """What `mergecap -a -F pcap -w OUT PART...` writes from editcap's pcapng files
    `parts`: a microsecond pcap of their packets, the first file's, then the next's."""
    linktypes, records = set(), []
    for part in parts:
        interfaces: list[tuple[int, int]] = []  # (link type, units a second)
        for kind, block in _blocks(part):
            if kind == _INTERFACE:
                linktype = struct.unpack_from("<H", block, 8)[0]
                interfaces.append((linktype, _resolution(block)))
                linktypes.add(linktype)
            elif kind == _ENHANCED:
                interface, high, low, caplen, wirelen = struct.unpack_from("<IIIII", block, 8)
                units = interfaces[interface][1]
                stamp = high << 32 | low
                sec, fraction = divmod(stamp, units)
                usec = fraction * 10**6 // units
                records.append(struct.pack("<IIII", sec, usec, caplen, wirelen)
                               + block[28:28 + caplen])
    if len(linktypes) != 1:
        raise ValueError(f"link types {sorted(linktypes)}")
    header = _PCAP_MICROS + struct.pack("<HHiIII", 2, 4, 0, 0, _MERGED_SNAPLEN,
                                        linktypes.pop())
    return header + b"".join(records)
