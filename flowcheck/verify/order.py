"""step_out_of_order: the callback (step 2) came after the data connection (step 4).

Judged by frame number and timestamp together, and only against data connections whose
opening the capture holds (flow-model.md, the five steps; docs/findings.md).
"""

from __future__ import annotations

from collections.abc import Callable

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, StepStatus, connection_ends
from flowcheck.profiles import StepSpec
from flowcheck.verify.context import Context
from flowcheck.verify.step_base import make_step
from flowcheck.verify.two_clocks import own_opening


def check_order(ctx: Context, session: Session) -> None:
    """The callback (step 2) comes before the data connection (step 4). It came after
    only when it did both in the file (by frame) and by its timestamps: neither alone is
    sure. Timestamps may go backwards (a clock step, capture_clock_stepped) or jitter
    between two interfaces; a pcapng of several interfaces is written in blocks, one
    interface's packets after another's, not in time order (dumpcap: trial 19 D2)."""
    callback_spec = ctx.profile.step("callback")
    data_spec = ctx.profile.step("data_connection")
    if callback_spec is None or data_spec is None or not session.callback_uid or \
            not session.data_connections:
        return
    callback = ctx.by_uid[session.callback_uid]

    def order(conn: Connection) -> tuple[int, float]:
        return conn.first_frame, conn.ts

    # A data connection without its SYN opened before it was first captured: when, the
    # capture cannot tell (trial 18 D7: files joined out of time order).
    # Nor one matched by direction and ports only (Session.port_matched: its
    # announcement not in the capture): with concurrent jobs it may be another
    # session's, so it says nothing of this one's order (lab/concurrent-jobs without one
    # DATA_LISTEN reply read FAIL, the other job's data connection taken for this one's).
    data = [conn for u in session.data_connections
            if (conn := ctx.by_uid[u]).syn_seen and u not in session.port_matched]
    if not data:
        return
    first_data = min(data, key=order)
    if not callback.syn_seen or order(callback) <= order(first_data):
        # Without its SYN the callback opened before the capture: before any data
        # connection the capture saw open, and its true start is unknown anyway.
        return
    first_stamped = min(data, key=lambda conn: conn.ts)
    if callback.ts < first_stamped.ts:
        _not_in_time_order(session, callback_spec, callback, first_data)
        return
    if not _after_on_own_clock(ctx, callback, data):
        return  # two clocks apart: its host's own packets do not show it later
    ctx.add("step_out_of_order",
            f"The callback {connection_ends(callback)} (step {callback_spec.number}) came "
            f"after the data connection (step {data_spec.number}).",
            "Check that the capture covers the whole job from its start; if it does, the "
            "agent does not follow the documented sequence: see its version and log.",
            session=session, conn=callback)
    _restep(session, callback_spec, "violated", lambda _: "came after the data connection")


def _after_on_own_clock(ctx: Context, callback: Connection, data: list[Connection]) -> bool:
    """Where the capture proves the callback's host's clock apart from its peer's (two
    hosts' own captures merged: frames and stamps of the two hosts' packets say nothing
    of their order), does its SYN follow the first of the data connections' SYNs or
    SYN-ACKs that host sent, on its own packets (two_clocks.own_opening: one host's
    packets keep their order in the file, on one clock)? A data connection without such
    a packet (a SYN it refused with an ICMP unreachable, a SYN-ACK its capture lost)
    tells nothing either way: following any other data connection's opening is
    following the first's (review 53c: lab/clean-3-resources with its callback late and
    the third data SYN-ACK left out, merged with the agent's clock 0.5 s ahead, read
    PASS). False when none holds one. True on one clock.
    field35-matrix/restore-ack-dropped-data-resent merged with the agent's clock 0.5 s
    ahead read step_out_of_order, its callback stamped after the media server's data SYN."""
    host = callback.orig_h
    own = own_opening(ctx, callback, host)
    if own is None:
        return True
    opened = [o for conn in data if (o := own_opening(ctx, conn, host)) is not None]
    return bool(opened) and own > min(opened)


def _restep(session: Session, spec: StepSpec, status: StepStatus,
            detail: Callable[[str], str]) -> None:
    """The session's `ok` step of spec, made again with status and detail(old detail)."""
    for index, step in enumerate(session.steps):
        if step.step == spec.number and step.status == "ok":
            session.steps[index] = make_step(spec, status, step.uids, step.frames,
                                             detail(step.detail), cites=step.cites)


def _not_in_time_order(session: Session, spec: StepSpec, callback: Connection,
                       first_data: Connection) -> None:
    """Step 2's detail, when the callback was written after the data connection but
    stamped before it, says the file is not in time order there (the step stays)."""
    note = (f"written after the data connection ({frame_text(callback.first_frame)} after "
            f"{frame_text(first_data.first_frame)}) but stamped "
            f"{span_words(first_data.ts - callback.ts)} before it: the file is not in "
            "time order there (a pcapng of several interfaces written one interface's "
            "packets after another's, as dumpcap does, or the clock set back), so the "
            "order is not held against the agent")
    _restep(session, spec, "ok", lambda detail: "; ".join(filter(None, (detail, note))))
