"""docs/findings.md keeps a section per code whose **When:** ends as a sentence (23 of them
ran into **Fix:** ending in ":" or ";") and that gives a **Fix:** (15 had none): field
check 60's words reviews. The fixes are the code's own (flowcheck/verify's fix texts)."""

from __future__ import annotations

import re
from pathlib import Path

from flowcheck.findings import CATALOGUE

FINDINGS = Path(__file__).resolve().parents[1] / "docs" / "findings.md"


def _sections() -> dict[str, str]:
    """Each code's section, up to the next section or chapter heading."""
    text = FINDINGS.read_text()
    parts = re.split(r"\n(?=### `|## )", text)
    return {m.group(1): part for part in parts if (m := re.match(r"### `([a-z_]+)`", part))}


def test_every_code_has_a_when_that_ends_and_a_fix() -> None:
    sections = _sections()
    assert set(CATALOGUE) <= set(sections), sorted(set(CATALOGUE) - set(sections))
    for code, section in sections.items():
        when = re.search(r"\*\*When:\*\*(.*?)(?:\n\n|$)", section, re.S)
        assert when is not None, code
        assert when.group(1).rstrip()[-1] not in ":;", (code, when.group(1)[-80:])
        assert "**Fix:**" in section, code


def test_every_section_opens_with_severity_when_and_fix() -> None:
    """newuser61: `data_unanswered`'s section opened on the ICMP time exceeded case
    before its fix; a user who asks for one code (`flowcheck docs findings CODE`)
    reads what it means and what to do first, the cases after."""
    for code, section in _sections().items():
        labels = re.findall(r"^\*\*([A-Z][^*]*):\*\*", section, re.M)
        assert labels[:3] == ["Severity", "When", "Fix"], (code, labels[:4])
