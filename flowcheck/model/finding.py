"""A finding: what a check (or a decoder) reports, its severity and its fix.

The codes are listed in flowcheck.findings.CATALOGUE; the JSON contract is in
docs/json.md and docs/findings.md.
"""

from __future__ import annotations

from dataclasses import field
from enum import StrEnum

from flowcheck.fields_dataclass import fields_dataclass


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@fields_dataclass(slots=True)
class Finding:
    """One finding of a run: what happened (message), how bad (severity), what cures it
    (fix), and where: the session, connection uid, time (seconds) and evidence frames."""

    code: str  # stable snake_case, see flowcheck.findings.CATALOGUE
    severity: Severity
    message: str  # plain words: what happened
    fix: str = ""  # the firewall rule or setting that cures it
    session: str | None = None
    uid: str | None = None
    ts: float | None = None
    frames: list[int] = field(default_factory=list)
    frames_more: int = 0  # evidence frames left out of `frames` (at most 20 listed)
    # True when the finding holds only under a setting the user did not give (the
    # default profile) and its fix suggests another: ordered after the job's own
    # findings of its severity (pipeline.finding_order; verify.fix_notes sets it). Not
    # in the JSON: docs/json.md tells the order it gives.
    under_default: bool = field(default=False, compare=False)
    # How many characters at the start of `fix` ask for the ranges first, flowcheck's
    # defaults being in force (verify.fix_notes.default_ranges_first); 0 for none. The
    # text report's headline gives the fix after them, and them as a note after it.
    ranges_first: int = field(default=0, compare=False)
    # True on verify.control_left_out's capture_filtered: the capture (or a piece of a
    # set) holds a job's other connections without its control connection, so nothing
    # of that job was judged: findings.verdict reads it (inconclusive beside sessions
    # judged) and report.verdict_notes says so. Data, not the message's words (review61a:
    # a rewrite of the words must not change the verdict). Not in the JSON.
    left_out: bool = field(default=False, compare=False)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "session": self.session,
            "uid": self.uid,
            "ts": self.ts,
            "frames": list(self.frames),
            "frames_more": self.frames_more,
            "message": self.message,
            "fix": self.fix,
        }
