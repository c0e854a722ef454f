"""Finding.other_profile, whether a finding's words point to another profile, is its
words' own (stepcodes63: verify.profile_followed read OTHER_PRODUCT in the message,
verify.plain_direction OTHER_PRODUCT_FIX or wrong_way_fix in the fix): over every stored
case whose findings speak of another profile, at the two checks that decide from it
(note_profile_followed, note_fixes), each finding's data and words agree, so a check that
writes the words without the data, or the data without the words, fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import case_analysis, stored_cases

import flowcheck.verify.checks as checks
from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.regress import Case
from flowcheck.verify.context import Context
from flowcheck.verify.profile_followed import OTHER_PRODUCT, OTHER_PRODUCT_FIX, wrong_way_fix

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _worded(finding: Finding, profile: str) -> str:
    """What the finding's words say of another profile, as Finding.other_profile would."""
    fix = OTHER_PRODUCT_FIX in finding.fix or finding.fix.startswith(wrong_way_fix(profile))
    return "said" if OTHER_PRODUCT in finding.message else "fix" if fix else ""


def _speaking() -> list[Case]:
    """The stored cases whose findings name --profile ndmp (in words: the selection's
    only), each analysed again below; the others' checks see no such finding."""
    return [case for case in stored_cases()
            if any("--profile ndmp" in f.fix or "--profile ndmp" in f.message
                   for f in case_analysis(case.capture, case.config_path).findings)]


@pytest.mark.parametrize("case", _speaking(),
                         ids=lambda case: str(case.capture.relative_to(CAPTURES)))
def test_other_profile_is_what_the_words_say(case: Case,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
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
    analyze(read_traffic([str(case.capture)], config), config)
    assert {name for name, *_ in seen} == {"note_profile_followed", "note_fixes"}
    assert [s for s in seen if s[2] != s[3]] == []
