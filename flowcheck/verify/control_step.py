"""Step 1 of flow-model.md's five steps: the control connection, the media server to the
agent's NDMP port. `control_step(ctx, session, spec, conn)` -> Step: `ok` when it opened
(or was a half-open port check or a traceroute probe, said so), `failed` when its opening
failed, `unknown` when whether it opened cannot be seen, `not_applicable` when it was
given up for the other IP version. Moved out of verify.steps unchanged."""

from __future__ import annotations

from flowcheck.model import (
    Connection,
    Session,
    Step,
    cites_of,
)
from flowcheck.profiles import StepSpec
from flowcheck.verify.context import Context, opening_frames
from flowcheck.verify.details import (
    connection_detail,
    port_words,
)
from flowcheck.verify.evidence import is_open, judged, unseen_why
from flowcheck.verify.fallback import attempt_step, fallback_note
from flowcheck.verify.half_open import half_open_check, half_open_words
from flowcheck.verify.port_check import (
    connect_check,
    connect_check_words,
)
from flowcheck.verify.stale import given_up_words, report_given_up
from flowcheck.verify.step_base import make_step
from flowcheck.verify.ttl_exceeded import traceroute_probe, traceroute_words
from flowcheck.verify.unresent import failed_opening_words


def control_step(ctx: Context, session: Session, spec: StepSpec, conn: Connection) -> Step:
    """Step 1 of `session` (`spec`), its control connection `conn` (module docstring)."""
    if (attempt := attempt_step(ctx, session, spec, conn)) is not None:
        return attempt  # given up for the other IP version (trial 28 D1)
    outcome = judged(ctx, conn)
    if outcome == "unknown":
        return make_step(spec, "unknown", [conn.uid], opening_frames(conn),
                         f"unknown: {unseen_why(ctx, conn)}")
    if outcome == "given_up":
        report_given_up(ctx, session, conn)
        return make_step(spec, "not_applicable", [conn.uid],
                         [*conn.synack_frames, *conn.rst_frames[:1]], given_up_words(ctx, conn))
    if is_open(outcome):
        ndmp_port = f"NDMP port {conn.resp_p}"
        if conn.resp_p != ctx.config.ndmp_port:  # found by its content
            ndmp_port += (f" (NDMP by its content, not the configured ndmp_port "
                          f"{ctx.config.ndmp_port}: rules written for that port do not "
                          "cover it)")
        own = port_words(ctx, session, conn)
        ports = ", ".join(p for p in (ndmp_port, own) if p)
        detail = connection_detail(ctx, conn, session, ports)
        check = connect_check_words(ctx, session) if connect_check(ctx, session) else ""
        if check:
            detail += f"; {check}"
        note = fallback_note(ctx, conn)
        return make_step(spec, "ok", [conn.uid], opening_frames(conn), detail + note,
                         cites=cites_of(own, check, note))
    if half_open_check(ctx, conn):
        return make_step(spec, "ok", [conn.uid], [*opening_frames(conn), *conn.rst_frames[:1]],
                         half_open_words(conn))
    if outcome in ("unanswered", "handshake_incomplete") and traceroute_probe(ctx, conn):
        return make_step(spec, "ok", [conn.uid],
                         [*opening_frames(conn), *conn.ttl_exceeded_frames,
                          *conn.rst_frames[:1]],
                         traceroute_words(conn))
    return make_step(spec, "failed", [conn.uid], opening_frames(conn),
                     failed_opening_words(ctx, conn))
