"""When each step of a session happened: the time column of the text and HTML reports.

An announcement step's time is its announcing message's; a step shown on the control
connection by its NDMP messages (an announcement whose address the snap length cut, a
request never answered, a reply refusing a listen) is the first of those messages'
(trial 32 D5: a cut DATA_LISTEN reply 5 ms into the job read +0.000s, the control
connection's start); any other step's, its first connection's start; none ("-") for an
announcement step whose announcing message the capture lacks (newuser55: "+0.000s").
"""

from __future__ import annotations

from collections.abc import Mapping

from flowcheck.model import Connection, NdmpStream, Session, Step


def message_times(stream: NdmpStream | None) -> dict[int, float]:
    """The timestamps (seconds since the epoch) of a control stream's NDMP messages, by
    the frame each is told by (NdmpMessage.frame); {} for no stream."""
    return {m.frame: m.ts for m in stream.messages} if stream is not None else {}


def step_time(step: Step, session: Session, conns: list[Connection],
              times: Mapping[int, float] | None = None) -> float | None:
    """When the step happened (seconds since the epoch): its announcing message (the
    first in the capture's order, several resources' several: the one its detail names;
    by time, across a clock set back the step read a later resource's, stamped after
    the step, beside the first's frame: review58n), else, for a step whose only
    connection is the session's control connection, the first of its frames that is an
    NDMP message in `times` (message_times of that connection), else its first
    connection's start; None for a step with no connection, or one no
    packet of the capture dates (Step.untimed: an announcement the capture lacks)."""
    if step.untimed:
        return None
    announced = [(a.frame, a.ts) for a in session.announced if a.frame in step.frames]
    if announced:
        return min(announced)[1]
    if times and [c.uid for c in conns] == [session.control_uid]:
        told = [frame for frame in step.frames if frame in times]
        if told:
            return times[min(told)]
    return conns[0].ts if conns else None
