"""The shared vocabulary of every pipeline stage.

Data flows one way: sources -> decode -> connections -> ndmp -> sessions -> graph ->
verify -> report. Every stage imports from this package and from stages to its left only.
Field names follow Zeek's conn.log (uid, orig_h, history, conn_state) because users of
Zeek and ntopng already read them; the JSON contract is in docs/json.md.

One module per part of the record: capture (input files, ring gaps), traffic
(connections, the segment sink; rare_fields, a connection's rarely set fields),
evidence (what a connection's side shows of a failure), arp (who asked for which
address), ndmp (messages, announcements, streams), finding (findings and their
severity), session (sessions and steps). Import the names from here.
"""

from __future__ import annotations

from flowcheck.model.arp import ArpAsked, ArpLog
from flowcheck.model.capture import CaptureInfo, RingGap
from flowcheck.model.evidence import NO_EVIDENCE, SideEvidence
from flowcheck.model.finding import Finding, Severity
from flowcheck.model.ndmp import (
    Announcement,
    ControlPacket,
    NdmpAddress,
    NdmpMessage,
    NdmpStream,
)
from flowcheck.model.session import LocalData, LocalReason, Session, Step, StepStatus
from flowcheck.model.traffic import Connection, Direction, Role, SegmentSink, endpoint

__all__ = [
    "NO_EVIDENCE",
    "Announcement",
    "ArpAsked",
    "ArpLog",
    "CaptureInfo",
    "Connection",
    "ControlPacket",
    "Direction",
    "Finding",
    "LocalData",
    "LocalReason",
    "NdmpAddress",
    "NdmpMessage",
    "NdmpStream",
    "RingGap",
    "Role",
    "SegmentSink",
    "Session",
    "Severity",
    "SideEvidence",
    "Step",
    "StepStatus",
    "endpoint",
]
