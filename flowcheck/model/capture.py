"""The capture as input: its files (CaptureInfo) and the holes of a ring buffer (RingGap).

Written by sources; read by connections, sessions, verify and report. The JSON contract of
CaptureInfo.as_dict is docs/json.md's "captures".
"""

from __future__ import annotations

from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model.said import Said


@fields_dataclass(frozen=True, slots=True)
class RingGap:
    """A hole in a ring buffer: numbered files missing between two the set holds
    (flowcheck.sources.ring). `before`, `after`: the file names around it; `start`, `end`:
    the last packet of `before` and the first of `after`, seconds since the epoch:
    nothing sent in between is in the capture. The ring's head (its oldest files gone)
    has no `before` and starts at -inf."""

    before: str
    after: str
    start: float
    end: float
    # False: not a ring's hole but the time between two files given in sequence that no
    # file covers (flowcheck.sources.file_gaps; no finding of its own).
    ring: bool = True
    # A file missing from a capture cut by time (tcpdump -G), not from a ring's numbering
    # (flowcheck.sources.rotation_gaps); a hole all the same.
    rotated: bool = False

    @property
    def head(self) -> bool:
        """The ring's oldest files, gone before `after` (overwritten by the ring, or not
        copied): `before` is "" and `start` -inf."""
        return not self.before

    def words(self) -> Said | str:
        """"the gap between ring files A and B (capture_ring_gap)" ("between files A and B
        of a capture cut by time" for a -G hole), or for the head "the
        ring's files older than A (gone: ...)"."""
        if not self.ring:
            return (f"the time between the files {self.before} and {self.after} (none of "
                    "the set's files covers it)")
        if self.head:
            return (f"the ring's files older than {self.after} (gone: the ring overwrote "
                    "them, or they were not copied)")
        if self.rotated:
            return Said(f"the gap between files {self.before} and {self.after} of a capture "
                        "cut by time (capture_ring_gap)", ["capture_ring_gap"])
        return Said(f"the gap between ring files {self.before} and {self.after} "
                    "(capture_ring_gap)", ["capture_ring_gap"])


@fields_dataclass(slots=True)
class CaptureInfo:
    """One input file (or standard input) of a capture set."""

    path: str
    format: str = "unknown"  # "pcap", "pcapng", with ".gz" appended when compressed
    link_types: list[str] = field(default_factory=list)  # e.g. ["EN10MB", "LINUX_SLL2"]
    packets: int = 0
    truncated: bool = False
    bytes_read: int = 0
    non_tcp: int = 0  # packets counted and skipped (UDP, ARP, ...)
    fragments: int = 0  # IP fragments: counted, not reassembled
    # Of those, the ones whose datagram flowcheck could not put together (its other
    # fragments not in the same read chunk, or not in the file). Not in the JSON.
    loose_fragments: int = 0
    undecodable: int = 0  # packets whose link/IP headers could not be decoded
    error: str | None = None  # why reading stopped early (absurd record length, ...)
    error_offset: int | None = None
    # The file's only fault is its last record, incomplete at its end (error_offset: where
    # that record began): cut short, or a sniffer stopped mid-write. Not in the JSON.
    cut_tail: bool = False
    # Packets the sniffer said it dropped: live, tcpdump's "packets dropped by kernel" or
    # dumpcap's received/dropped; a pcapng file, its Interface Statistics Blocks'
    # isb_ifdrop + isb_osdrop (the last block of each interface); None when not said.
    kernel_dropped: int | None = None
    # live: the sniffer that captured ("tcpdump", "dumpcap", "scapy") and its kernel
    # buffer in MiB; None for a file. Not in the JSON.
    sniffer: str | None = None
    buffer_mib: int | None = None
    # pcapng: when the capture tool stopped (the latest isb_endtime), seconds since the
    # epoch; None when the file does not say. Not in the JSON.
    stopped_at: float | None = None
    # The capture filter the sniffer applied (live's --capture-filter; a pcapng file's
    # if_filter, libpcap syntax) and the interface it sniffed (live's --interface; pcapng
    # if_name); None when not known. Not in the JSON (flowcheck.verify.capture_filter).
    capture_filter: str | None = None
    interface: str | None = None
    # The file grew while it was read (a sniffer still writing it): read up to its size
    # when first seen. Not in the JSON (its `error` says it).
    growing: bool = False
    # A Windows tool that logs each packet at several places of one host's stack
    # (flowcheck.sources.host_tools: "pktmon", "netsh trace"), as the pcapng file says;
    # None otherwise. Not in the JSON.
    tool: str | None = None
    # The application that wrote a pcapng file (its section header's shb_userappl:
    # "Dumpcap (Wireshark) 4.2.2 ...", "PktMon etl2pcap"); None when it does not say. Not
    # in the JSON (flowcheck.verify.tool_fixes).
    application: str | None = None
    # TCP frames the capture tool cut and recorded as whole (their IPv4 header says they
    # were longer: flowcheck.connections.cut_recorded), and the length most of them were
    # recorded with; 0 / None without any. Not in the JSON.
    cut_recorded: int = 0
    cut_length: int | None = None
    # Frames an ERSPAN mirror's stream lost before the capture (its sequence numbers
    # skip them: flowcheck.connections.mirror_gaps); 0 without any. Not in the JSON.
    mirror_skipped: int = 0
    # Packets recorded shorter than they were on the wire (captured length below original
    # length: tshark's frame.cap_len < frame.len; the snap length, or a slicing mirror)
    # and the longest captured length among them (the snap length that cut them); 0 /
    # None without any (count_snap_cut). In the JSON: `truncated` is the file's end.
    snap_cut: int = 0
    snap_length: int | None = None
    # The shortest captured length among them: a pcapng file's interfaces with other
    # snap lengths cut at each ("80 to 200 bytes kept": review 54b). Not in the JSON.
    snap_shortest: int | None = None
    # Files of other capture formats beside it in its directory, left out of the set
    # ("NAME: what it is: how to convert it"; capture_files_skipped). Not in the JSON.
    beside: list[str] = field(default_factory=list)
    # The finest timestamp unit its records carry, seconds: 1e-6 a microsecond pcap,
    # 1e-9 a nanosecond one, a pcapng file its finest interface's (if_tsresol); None not
    # read. Two files whose copies lie at one offset within half a microsecond are one
    # capture shifted only on microsecond clocks (connections.point_names; review56b:
    # two bridge ports' nanosecond stamps 0.5 us apart at most). Not in the JSON.
    tick: float | None = None
    # Its first and last packet's time, seconds since the epoch (the tracker's clock:
    # connections.finish); None without packets, or not read. Not in the JSON (a set's
    # files cut by time, tcpdump -G: sources.ring.time_rotated).
    span: tuple[float, float] | None = None

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "format": self.format,
            "link_types": list(self.link_types),
            "packets": self.packets,
            "truncated": self.truncated,
            "snap_cut": self.snap_cut,
            "snap_length": self.snap_length,
            "non_tcp": self.non_tcp,
            "fragments": self.fragments,
            "undecodable": self.undecodable,
            "error": self.error,
            "error_offset": self.error_offset,
            "kernel_dropped": self.kernel_dropped,
        }
