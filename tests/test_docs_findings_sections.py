"""docs/findings.md keeps a section per code whose **When:** ends as a sentence (23 of them
ran into **Fix:** ending in ":" or ";") and that gives a **Fix:** (15 had none): field
check 60's words reviews. The fixes are the code's own (flowcheck/verify's fix texts)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


def test_data_unanswereds_fix_names_the_return_path() -> None:
    """The report's data_unanswered fix allows the data connection both ways ("... and
    TCP from 10.77.0.1 ports 5001-5100 back to 10.77.0.2 ports 6001-6100 ... outbound on
    the media server ... (the SYN-ACK's way: established connections)": verify's
    allow_rules); the section's **Fix:** named only the range the SYNs go to (tidy61)."""
    section = _sections()["data_unanswered"]
    fix = re.search(r"\*\*Fix:\*\*(.*?)(?:\n\n|$)", section, re.S)
    assert fix is not None
    words = " ".join(fix.group(1).split())
    assert "back from the media range to the agent's ports (the agent range) outbound on " \
        "the media server" in words, words
    assert "back from the agent range to the media range outbound on the agent" in words, words
    assert "established connections" in words, words


# A paragraph is a block between blank lines, each list item one of its own; fenced code
# and table rows are no prose. newuser67: `flowcheck docs findings data_refused` held a
# paragraph of 4,712 words (the page's longest, "Evidence before verdict", 4,996), read as
# the trials' history, not as what to do.
LONGEST_PARAGRAPH = 200
LONGEST_IN_REWRITTEN = 150
REWRITTEN = ("data_refused", "data_unanswered", "capture_ended_early", "step_missing",
             "control_closed", "control_unanswered", "control_refused",
             "callback_refused", "callback_unanswered", "no_control_session",
             "handshake_incomplete", "data_stalled", "capture_duplicates",
             "capture_loss", "announced_address_mismatch", "control_reset",
             "data_reset", "capture_one_direction", "ndmp_partial",
             "capture_started_mid_session", "ndmp_undecodable", "announced_not_used",
             "ndmp_error_reply", "control_stalled", "data_aborted",
             "capture_filtered", "range_too_small", "profile_inferred",
             "unannounced_connection", "agent_not_seen", "host_not_configured",
             "capture_clock_stepped", "data_halted_abnormally")


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Each prose paragraph of a Markdown text as (its first line, its words)."""
    found: list[tuple[int, int]] = []
    words, start, fenced = 0, 0, False
    for number, line in enumerate(text.splitlines(), 1):
        item = re.match(r"\s*(?:[-*]|\d+\.)\s", line)
        if line.startswith("```"):
            fenced = not fenced
        if fenced or line.startswith(("```", "#", "|")) or not line.strip() or item:
            if words:
                found.append((start, words))
            words = 0
            if fenced or not item:
                continue
        if not words:
            start = number
        words += len(line[item.end():].split()) if item else len(line.split())
    if words:
        found.append((start, words))
    return found


def test_paragraphs_counts_items_and_blocks_apart() -> None:
    text = "lead one two\n\n- a b\n  c\n- d\n\n```\nnot prose here\n```\n| x | y |\ntail"
    assert paragraphs(text) == [(1, 3), (3, 3), (5, 1), (11, 1)]


def test_no_paragraph_of_the_findings_page_runs_on() -> None:
    long = [(line, words) for line, words in paragraphs(FINDINGS.read_text())
            if words > LONGEST_PARAGRAPH]
    assert not long, f"paragraphs over {LONGEST_PARAGRAPH} words (line, words): {long}"


@pytest.mark.parametrize("code", REWRITTEN)
def test_a_rewritten_section_reads_in_short_paragraphs(code: str) -> None:
    """The five longest sections, rewritten as When, Fix and one situation a bullet."""
    section = _sections()[code]
    long = [(line, words) for line, words in paragraphs(section)
            if words > LONGEST_IN_REWRITTEN]
    assert not long, f"{code}: paragraphs over {LONGEST_IN_REWRITTEN} words: {long}"
    assert "evidence that set its words" not in section, code
