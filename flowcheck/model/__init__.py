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

from importlib import import_module
from typing import TYPE_CHECKING

from flowcheck.model.arp import ArpAsked, ArpLog
from flowcheck.model.capture import CaptureInfo, RingGap
from flowcheck.model.evidence import NO_EVIDENCE, SideEvidence
from flowcheck.model.finding import Allows, Finding, Severity
from flowcheck.model.said import Said, cited, cites_of
from flowcheck.model.traffic import (
    Connection,
    Direction,
    Role,
    SegmentSink,
    connection_ends,
    endpoint,
    other_direction,
)

if TYPE_CHECKING:
    from flowcheck.model.ndmp import (
        Announcement,
        ControlPacket,
        NdmpAddress,
        NdmpMessage,
        NdmpStream,
        StreamHole,
    )
    from flowcheck.model.session import LocalData, LocalReason, Session, Step, StepStatus

# The NDMP and session names, loaded on first use (PEP 562 `__getattr__`): the reading
# and tracking stages never use them, and their dataclasses were a third of this
# package's import (about 40 M instructions of every `python -m flowcheck.connections`
# run, issue 7). `from flowcheck.model import Session` works as before.
_LATER = {name: "ndmp" for name in ("Announcement", "ControlPacket", "NdmpAddress",
                                    "NdmpMessage", "NdmpStream", "StreamHole")}
_LATER.update({name: "session" for name in ("LocalData", "LocalReason", "Session", "Step",
                                            "StepStatus")})


def __getattr__(name: str) -> object:
    part = _LATER.get(name)
    if part is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{part}"), name)
    globals()[name] = value  # found directly from now on
    return value


__all__ = [
    "cited",
    "cites_of",
    "NO_EVIDENCE",
    "Allows",
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
    "Said",
    "Role",
    "SegmentSink",
    "Session",
    "Severity",
    "SideEvidence",
    "Step",
    "StepStatus",
    "StreamHole",
    "connection_ends",
    "endpoint",
    "other_direction",
]
