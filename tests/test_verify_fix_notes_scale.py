"""The fix notes that read every session (verify.plain_direction's `--profile ndmp` lead,
verify.profile_followed's session that followed the profile) read the sessions once per
analysis, not once per finding (review of today's change: a capture of 4000 sessions,
one step_missing each, took 82 s in profile_first alone, 1000 sessions 3.5 s).

The sessions are counted by how often the checks iterate over the list: linear in the
sessions means a fixed number of passes whatever the number of findings.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from flowcheck.config import build_config
from flowcheck.model import Allows, Announcement, Finding, Severity
from flowcheck.profiles import load_profile
from flowcheck.verify.context import Context
from flowcheck.verify.fix_notes import note_fixes
from flowcheck.verify.profile_followed import (
    OTHER_PRODUCT,
    OTHER_PRODUCT_FIX,
    note_profile_followed,
)


class CountedPasses(list):
    """A list that counts the passes over it (each `for` over it is one)."""

    passes = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        CountedPasses.passes += 1
        return super().__iter__()


def _context(n: int) -> Context:
    """n judged Backup Exec jobs of plain NDMP's direction: each its callback missing,
    its mover announced, one step_missing (suggesting --profile ndmp) each."""
    profile = load_profile("backup-exec-9")
    sessions = []
    for i in range(n):
        steps = [NS(status="ok" if j == 0 else "missing") for j in range(len(profile.steps))]
        announced = [Announcement(f"C{i}", "10.0.0.1", 5000 + i % 100, 10 * i + 5, float(i),
                                  "NDMP_MOVER_LISTEN", "mover")]
        sessions.append(NS(id=f"S{i}", side=False, steps=steps, announced=announced,
                           control_uid=f"C{i}", cut_announcements=[], callback_uid=None,
                           media_server="10.0.0.1", remote_agent="10.0.1.2", server_roles={},
                           callback_hosts=None))
    ctx = Context([], [], sessions, build_config({}), profile)  # type: ignore[arg-type]
    ctx.findings = [Finding("step_missing", Severity.ERROR, f"no callback: {OTHER_PRODUCT}",
                            fix=f"Allow TCP from the agent{OTHER_PRODUCT_FIX}",
                            session=f"S{i}", allows=Allows(), other_profile="said")
                    for i in range(n)]
    ctx.sessions = CountedPasses(sessions)
    return ctx


@pytest.mark.parametrize("note", [note_fixes, note_profile_followed])
def test_the_sessions_are_read_a_fixed_number_of_times_whatever_the_findings(note) -> None:  # type: ignore[no-untyped-def]
    passes = []
    for n in (20, 80):
        ctx = _context(n)
        CountedPasses.passes = 0
        note(ctx)
        passes.append(CountedPasses.passes)
    assert passes[0] == passes[1] <= 2


def test_the_lead_still_leads_every_fix() -> None:
    """The lead computed once is each finding's."""
    ctx = _context(5)
    note_fixes(ctx)
    assert all(f.fix.startswith("Analyze the capture again with --profile ndmp")
               for f in ctx.findings)
    assert "MOVER_LISTEN, frame 5, 4 more" in ctx.findings[3].fix
