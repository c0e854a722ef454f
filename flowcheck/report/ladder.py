"""The ladder (sequence) diagram of one session, as data: lanes, arrows, their spacing.

One lane per host, time going down: the TechNote's Figure 1 (Veritas TechNote 255831,
numbered arrows for control connection, callback, announcement and data connections) and
Wireshark's Flow Graph. Each arrow carries its profile step and that step's status, and
the findings it shows. Times count from the report's base (report.since: the capture
set's earliest connection, or the earliest before its clock steps back, a time after the
step that falls before it marked "(clock set back)"); `spacing` compresses long gaps so a
long transfer does not stretch the picture.

Kept apart from how a ladder is made (report/ladder_build.py, from an Analysis) and from
how it is drawn (report/ladder_svg.py for HTML, ladder_text.py for the terminal,
mermaid.py): this is what they share, data only, no drawing.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import Literal

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.report.since import Since

ArrowKind = Literal["syn", "synack", "rst", "fin", "icmp", "ndmp", "data"]
# Step statuses (model.StepStatus, and "unknown" for a step the capture cannot judge),
# plus "neutral" for an arrow that belongs to no step.
ArrowStatus = str

# Gaps longer than this are drawn compressed, with a break mark and their length.
BREAK_SECONDS = 1.0
# Status in words as well as colour: what every drawing appends to a bad step's label.
_GLYPH = {"failed": " \u2717", "missing": " \u2717", "violated": " !", "unknown": " ?"}


@fields_dataclass(frozen=True, slots=True)
class Lane:
    """One lifeline: a host, or one role of a host that plays both (a job on one machine)."""

    key: str  # what arrows name: the host, or "host role" when both roles share a host
    host: str  # IP address
    role: str  # "media server", "remote agent" or "host"

    @property
    def title(self) -> str:
        return f"{self.role} {self.host}" if self.role != "host" else self.host


@fields_dataclass(frozen=True, slots=True)
class FindingMark:
    """A finding an arrow shows; `anchor` is its id in the HTML report (`finding-N`)."""

    code: str
    severity: str
    anchor: str


@fields_dataclass(slots=True)
class Arrow:
    """One arrow between two lanes: a packet (SYN, SYN-ACK, RST, ICMP; resends counted in
    `repeats`), an NDMP message, or a data connection's whole transfer."""

    src: str  # key of the sending lane (Lane.key)
    dst: str
    kind: ArrowKind
    label: str
    uid: str  # connection the arrow belongs to
    frames: list[int]  # evidence frames (1-based, the capture set's merged order)
    ts: float | None  # absolute time, None when the capture keeps no time for it
    order: int = 0  # tie-break between arrows of one frame (SYN before data)
    step: int | None = None
    status: ArrowStatus = "neutral"
    repeats: int = 1  # the same packet sent again (retransmitted SYN / SYN-ACK)
    reply: bool = False  # an answer (SYN-ACK, NDMP reply, ICMP): drawn dashed
    findings: list[FindingMark] = field(default_factory=list)
    # The frame the arrow is drawn at when that is not its first evidence frame (a data
    # arrow moved down to its DATA_START_*, a frame of the control connection): placing
    # only, never cited as the arrow's (`frames` stay its own connection's).
    place: int | None = None
    # The time of the packet the arrow stands for when `ts` is None (drawn without a
    # time: a SYN-ACK, an RST or FIN the drawing gives none): what orders it among the
    # others where frames do not (report.ladder_order). None: `ts`, or no time known.
    at: float | None = None
    # A data arrow's last packet's time (Arrow.ts its first's: how long the data flowed),
    # what tells whether a DATA_START_* came while it flowed (ladder_build).
    until: float | None = None

    @property
    def frame(self) -> int:
        """Where the arrow goes in its ladder: `place`, else its first evidence frame."""
        if self.place is not None:
            return self.place
        return self.frames[0] if self.frames else 0

    @property
    def glyph(self) -> str:
        """What follows the label: a cross (failed, missing), "!" (violated), "?" (unknown)."""
        return _GLYPH.get(self.status, "")

    @property
    def failing(self) -> bool:
        return any(mark.severity == "error" for mark in self.findings)


@fields_dataclass(slots=True)
class Ladder:
    """One session's sequence: its lanes left to right, its arrows top to bottom."""

    session: str
    title: str
    lanes: list[Lane]
    arrows: list[Arrow]
    # Time zero: the capture set's earliest connection, or the earliest before the
    # capture's clock steps back (overview.first_packet, report.since.time_base).
    base: Since
    omitted: int = 0  # arrows left out (MAX_ARROWS), said under the picture

    def stamp(self, arrow: Arrow) -> str | None:
        """The arrow's time from the ladder's time zero as the reports write it
        ("+1.942s"; "-1.978s (clock set back)" for a packet after the capture's clock
        steps back that falls before it: Since); None without a time."""
        if arrow.ts is None:
            return None
        return self.base(arrow.ts, arrow.frames[0] if arrow.frames else None)


@fields_dataclass(frozen=True, slots=True)
class Gap:
    """The space before an arrow: `extra` rows (0 to 2) and the seconds it stands for."""

    seconds: float
    extra: float
    broken: bool  # compressed: drawn with a break mark


def spacing(ladder: Ladder) -> list[Gap]:
    """The gap before each arrow, compressed: about log10 of the seconds, at most 2 rows.

    10 ms adds 0.5 row, 1 s 1.5 rows, anything from 10 s on 2 rows with a break mark, so
    a 2-hour transfer takes no more room than a 10-second one.
    """
    gaps = []
    previous: float | None = None
    for arrow in ladder.arrows:
        seconds = 0.0
        if arrow.ts is not None:
            if previous is not None:
                seconds = max(0.0, arrow.ts - previous)
            previous = arrow.ts
        extra = min(2.0, max(0.0, (math.log10(seconds) + 3) / 2)) if seconds > 1e-3 else 0.0
        gaps.append(Gap(seconds, extra, seconds >= BREAK_SECONDS))
    return gaps
