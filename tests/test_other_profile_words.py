"""Finding.other_profile, whether a finding's words point to another profile, is its
words' own (stepcodes63: verify.profile_followed read OTHER_PRODUCT in the message,
verify.plain_direction OTHER_PRODUCT_FIX or wrong_way_fix in the fix): over every stored
case whose findings speak of another profile, at the two checks that decide from it
(note_profile_followed, note_fixes), each finding's data and words agree, so a check that
writes the words without the data, or the data without the words, fails here; in every
other stored case no finding carries the data (nothing there names --profile ndmp, which
the data would have kept or brought: plain_direction's lead).

Which cases speak is read from the run's shared analyses (stored.case_analysis), in the
test, not at collection: review63c, the list made at import analysed every stored case in
every pytest-xdist worker (about 9 CPU-s each) before the run's shared pickles were
there. Only the cases that speak are analysed again, from the traffic the shared run read
(stored.case_traffic), to see the findings at the two checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import case_analysis, case_traffic, stored_cases

import flowcheck.verify.checks as checks
from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze
from flowcheck.regress import Case
from flowcheck.verify.context import Context
from flowcheck.verify.profile_followed import OTHER_PRODUCT, OTHER_PRODUCT_FIX, wrong_way_fix

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _worded(finding: Finding, profile: str) -> str:
    """What the finding's words say of another profile, as Finding.other_profile would:
    "wrong_way" for a fix that starts with step_out_of_order's wrong_way_fix (data64:
    verify.wrong_way sets it, verify.plain_direction.profile_first reads it)."""
    if OTHER_PRODUCT in finding.message:
        return "said"
    if finding.fix.startswith(wrong_way_fix(profile)):
        return "wrong_way"
    return "fix" if OTHER_PRODUCT_FIX in finding.fix else ""


def _speaks(finding: Finding) -> bool:
    """Does the finding name --profile ndmp (its words: the fix a check wrote, or the lead
    verify.plain_direction put before it)?"""
    return "--profile ndmp" in finding.fix or "--profile ndmp" in finding.message


@pytest.mark.parametrize("case", stored_cases(),
                         ids=lambda case: str(case.capture.relative_to(CAPTURES)))
def test_other_profile_is_what_the_words_say(case: Case,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    shared = case_analysis(case.capture, case.config_path)  # shared: read only
    if not any(_speaks(f) for f in shared.findings):
        assert [(f.code, f.other_profile) for f in shared.findings if f.other_profile] == []
        return
    seen: list[tuple[str, str, str, str]] = []

    def checked(note):  # type: ignore[no-untyped-def]
        def wrapper(ctx: Context) -> None:
            seen.extend((note.__name__, f.code, f.other_profile, _worded(f, ctx.profile.name))
                        for f in ctx.findings)
            note(ctx)
        return wrapper

    monkeypatch.setattr(checks, "note_profile_followed", checked(checks.note_profile_followed))
    monkeypatch.setattr(checks, "note_fixes", checked(checks.note_fixes))
    config = build_config(load_file(case.config_path) if case.config_path else {})
    analyze(case_traffic(case.capture, case.config_path), config)
    assert {name for name, *_ in seen} == {"note_profile_followed", "note_fixes"}
    assert [s for s in seen if s[2] != s[3]] == []
