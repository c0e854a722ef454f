"""scapy's rdpcap and wrpcap for the tests that edit stored captures packet by packet,
at less cost and with the same packets and bytes.

`read_packets` dissects a stored capture (under captures/ or tests/data/, which no
test writes) once per test worker, the last few kept, and gives each caller its own
copies: scapy took 0.3 s to dissect a lab capture of 650 frames, copying them takes a
fraction of that, and a test file read the same capture in each of its tests. A
copy (Packet.copy) keeps the fields, the bytes read, the time and the wire length, so
the tests edit and write it as the packet read.

`write_packets` writes the packets one record each as wrpcap writes them (its file
header, each packet's bytes, time and wire length, through scapy's own PcapWriter), but
without wrpcap's walk of `for y in packet`, which clones every packet (two thirds of
wrpcap's time). That walk expands a packet whose fields hold sets of values (TCP(dport=
[80, 443])) into one packet per value; no test writes such a packet, and
write_packets refuses one. tests/test_scapy_files.py checks both against scapy's own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

# scapy.all: the packets are dissected with every layer loaded, as the tests' own
# `from scapy.all import rdpcap` did.
from scapy.all import Packet, PcapWriter, rdpcap
from scapy.base_classes import BasePacket, Gen

_ROOT = Path(__file__).resolve().parent.parent
_STORED = (_ROOT / "captures", _ROOT / "tests" / "data")  # what no test writes
_KEPT = 4  # files kept dissected: a test module reads one or two captures
_read: OrderedDict[tuple[str, int, int], list[Packet]] = OrderedDict()


def read_packets(path: Path | str, count: int | None = None) -> list[Packet]:
    """The packets of the capture `path` (its first `count` if given), as list(rdpcap(
    path))[:count] gives them: copies the caller may change."""
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(folder) for folder in _STORED):
        # A test's own file (tmp_path, tests/artifacts): it may write it again.
        return list(rdpcap(str(resolved)))[:count]
    stat = resolved.stat()
    key = (str(resolved), stat.st_mtime_ns, stat.st_size)
    packets = _read.get(key)
    if packets is None:
        packets = list(rdpcap(str(resolved)))
        _read[key] = packets
        while len(_read) > _KEPT:
            _read.popitem(last=False)
    else:
        _read.move_to_end(key)
    return [packet.copy() for packet in packets[:count]]


def write_packets(path: Path | str, packets: Iterable[Packet] | Packet) -> Path:
    """`packets` (or one packet) written to `path` as wrpcap(path, packets) writes them
    (pcap, the first packet's link type, microseconds); returns path."""
    if isinstance(packets, Packet):
        packets = [packets]
    with PcapWriter(str(path)) as writer:
        for packet in packets:
            if not isinstance(packet, Packet) or _expands(packet):
                raise ValueError(f"not one packet: {packet!r:.80}")
            if not writer.header_present:
                writer.write_header(packet)
            writer.write_packet(packet)
    return Path(path)


def _expands(packet: Packet) -> bool:
    """Whether wrpcap would write `packet` as more than one: a field of one of its
    layers holds a set of values (a list in a field of one value, a range, a Net)."""
    return any((isinstance(value, Gen) and not isinstance(value, BasePacket))
               or (isinstance(value, (list, range)) and not layer.get_field(name).islist)
               for layer in packet.iterpayloads() for name, value in layer.fields.items())
