"""A job that stopped where it needed one more port of a range the capture shows full
(verify.range_stops): what the step that failed there and range_too_small share."""

from __future__ import annotations

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Finding


@fields_dataclass(slots=True)
class RangeStop:
    """One failed step at which `host` had every port of its `which` range ("media",
    "agent") in use or held (port_hold_seconds after use) in the capture.

    session: the session id; step: the profile's step number (2 the callback, 3 the
    announcement, 4 the data connection); ts: when the port was needed, seconds (the
    listen request's time, the announcement's at step 4, or the last NDMP message
    before the callback was given up, step 2); frame: that
    request's or message's frame; what: those words ("the DATA_LISTEN request (frame
    443)"); held: (port, connection uid, its first frame) of each port of the range held
    then, in port order; held_words: those connections as the step says them ("C3 on
    6001 (ended 2.1 ms before), C4 on 6002 (open)"); finding: the step_missing the step wrote
    (step 4: the announced_not_used)
    (its fix finished by verify.range_stops.note_range_stops once range_too_small gave
    the number of ports).
    """

    session: str
    step: int
    which: str
    host: str
    ts: float
    frame: int
    what: str
    held: tuple[tuple[int, str, int], ...]
    held_words: str
    finding: Finding | None = None
