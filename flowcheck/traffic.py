"""What the pipeline hands on: the traffic a capture set holds (`Traffic`) and what
`analyze` makes of it (`Analysis`). Their own module so that the modules the pipeline
calls (flowcheck.mixed_reading) can name them without importing the pipeline back.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from flowcheck.config import Config
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.findings import verdict
from flowcheck.model import (
    ArpLog,
    CaptureInfo,
    Connection,
    Finding,
    NdmpStream,
    RingGap,
    Session,
)
from flowcheck.sources.pieces import ONE_PIECE, Pieces

if TYPE_CHECKING:
    from flowcheck.connections.clock_words import ClockStep
    from flowcheck.decode.skipped import Skipped
    from flowcheck.profiles import Profile
    from flowcheck.sessions.clock_apart import LagProof
    from flowcheck.sources.clock_epochs import EpochFrames
    from flowcheck.sources.frame_files import FrameFiles


@fields_dataclass(slots=True)
class Traffic:
    """What the capture set holds: connections and decoded control streams."""

    captures: list[CaptureInfo]
    connections: list[Connection]
    streams: list[NdmpStream]
    findings: list[Finding]  # capture and decode findings
    # When the capture stopped, if known beyond its last TCP packet: its last packet of
    # any kind (ARP, UDP, ICMP after the job: the sniffer ran on), or live's stop time;
    # silences are judged up to here (flowcheck.verify.evidence).
    ended_at: float | None = None
    # Holes in a ring buffer's numbering, in time order (capture_ring_gap).
    ring_gaps: list[RingGap] = field(default_factory=list)
    # Time between files given in sequence that no file covers (TrackResult.file_gaps).
    file_gaps: list[RingGap] = field(default_factory=list)
    # The set's parts apart in time, split at those gaps (sources.pieces.set_pieces).
    pieces: Pieces = ONE_PIECE
    # Its capture copies are all one host's Windows tool's (TrackResult.host_copies).
    host_copies: bool = False
    # Its capture copies are one capture host's several interfaces'
    # (TrackResult.interface_copies).
    interface_copies: bool = False
    # Its two capture points are a router apart (TrackResult.routed_points).
    routed_points: bool = False
    # Two of its files are two capture points' (TrackResult.linked_files).
    linked_files: bool = False
    # Each host pair's Linux cooked packet types and TTLs (TrackResult.host_marks).
    host_marks: dict[tuple[str, str], int] = field(default_factory=dict)
    # (address, the same host's address on the other side of a NAT) for every end the
    # set shows under two addresses (flowcheck.connections.nat_views.address_aliases).
    nat_aliases: frozenset[tuple[str, str]] = frozenset()
    # Per direction with capture copies whose legs are known, whether one crossed to
    # another leg (TrackResult.copy_legs).
    copy_legs: dict[tuple[str, int, str, int], bool] = field(default_factory=dict)
    # Who asked for which address by ARP, and who answered (flowcheck.model.arp).
    arp: ArpLog = field(default_factory=ArpLog)
    # What the packets the decoder skipped were (flowcheck.decode.skipped); None: unknown.
    skipped: Skipped | None = None
    # The second views of connections kept once (a tunnel's copy, the far side of a NAT)
    # and their decoded streams: left out of the analysis, still in the file (crosscheck
    # compares with tshark, which decodes both views).
    folded: list[Connection] = field(default_factory=list)
    folded_streams: list[NdmpStream] = field(default_factory=list)
    # The frame numbers are one sniffer's write order: one file of one interface, or such
    # files merged whole one after another (TrackResult.one_stream;
    # flowcheck.sessions.file_order).
    one_stream: bool = False
    # The connections (uids) whose packets were written out of time order: their frames
    # are no event order (TrackResult.time_ordered; flowcheck.sessions.file_order).
    time_ordered: frozenset[str] = frozenset()
    # The clock epoch of each frame, when the capture host's clock stepped back on all
    # its streams at once (TrackResult.clock_epochs; flowcheck.sessions.file_order).
    clock_epochs: EpochFrames | None = None
    # A set of several files: each frame's file and frame in it (TrackResult.frame_files;
    # flowcheck.frame_names names them in reports); None for one file.
    frame_files: FrameFiles | None = None
    # What its capture_clock_stepped tells, the kind as data (TrackResult.clock_step:
    # report.since's time base, capture_loss's hedging); None: no such finding.
    clock_step: ClockStep | None = None
    # The proofs of hosts stamped behind their peers, (host, peer) -> LagProof, over
    # `connections` as traffic_from found them (sessions.clock_apart.mark_clocks_apart),
    # for the sessions (build_sessions: matching's windows) and the checks
    # (verify.two_clocks); None: not found (a Traffic made otherwise: each finds them).
    clock_lags: dict[tuple[str, str], LagProof] | None = None


@fields_dataclass(slots=True)
class Analysis:
    """What `analyze` gives: the traffic read, the config and profile it was checked
    against, the sessions and every finding."""

    traffic: Traffic
    config: Config
    sessions: list[Session] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # all, decode findings included
    profile: Profile | None = None  # what the traffic was checked against

    @property
    def verdict(self) -> str:
        return verdict(self.findings, self.sessions)
