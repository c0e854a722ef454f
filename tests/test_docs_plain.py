"""The user pages under docs/ (read through `flowcheck docs PAGE`) state what flowcheck
does and why, never the project's history: who found a case (a trial, a review, a new
user, a field check, a session, a helper's branch) or what flowcheck said before. That
history is in CHANGELOG.md and the git log. Stored cases keep their names as paths
(`captures/field48-matrix`, `lab-trial19-callback/...`): a name joined to a path or a
case's dashes is a file to open, not a story."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = ("findings", "json", "cli", "formats", "configuration", "profiles", "pytest-plugin")

# A history tag not glued to a path or a case name (no "/", "-" or word character either
# side); whitespace between its words may be a line break.
HISTORY = re.compile(
    r"(?<![-/\w])("
    r"(?:[Nn]ew[- ]user\s+)?[Tt]rials?\s+(?:\d+|[A-Z]\b|of\s+session)"
    r"|[Nn]ew-?users?(?:\s?\d+)?|[Nn]ew\s+users?\s?\d+"
    r"|[Rr]eviews?\s*\d+[a-z]?|[Rr]eview\s+of"
    r"|[Ff]ield(?:-|\s+)?checks?|field\d+"
    r"|[Ll]ab\s+matrix|seed\s+\d+\s+runs?\s+\d+"
    r"|[Ss]essions?\s+\d{2,}(?!\.\d)"
    r"|speed[A-Z]"
    r"|(?:tidy|words|verdicts|leftover|finalread|final|reread)\d+[a-z]?"
    r"|merged(?:one|sets)|late(?:start|cut|jobs)|clock(?:pools|fix)|tiecap|boundfix"
    r"|gwords|onedirloss|silentwords|recheck"
    r"|[Tt]ask\s+[a-z]+\d+[a-z]?|nu\d+[a-z]|leftovers\d+[a-z]?|readings\d+"
    r"|host(?:proof|side)|nat(?:fix|drop|port)|mtunat|cbonly|fixrange|rangesmall"
    r"|ring(?:frames|gap|order)|words(?:data|end)|leftwords|fw(?:advice|rules)"
    r"|nft(?:quote|words)|icmp(?:dup|lazy|only)"
    r"|D\d+\)"
    r")(?![-/\w])"
)


def history_tags(text: str) -> list[str]:
    """Each history tag in text with the line it starts on, as "LINE: tag" (empty: none).

    Line breaks are read as spaces, so a tag wrapped over two lines is found too."""
    flat = text.replace("\n", " ")
    return [
        f"{text.count(chr(10), 0, m.start()) + 1}: {' '.join(m.group(1).split())}"
        for m in HISTORY.finditer(flat)
    ]


def test_the_pattern_tells_history_from_case_names() -> None:
    """The check itself: provenance is caught, stored cases' paths and NDMP sessions not."""
    caught = (
        "(trial 29 D6)", "review61c: it read", "(newuser56)", "field check 64 run 19",
        "as session 58 did", "speedH's", "(trial 20 D5, D6)", "(tidy61)", "field68 put",
        "trial A of session 34", "lab matrix seed 112 run 15", "(seed 112 run\n  40:",
        "new-user trial", "(mergedsets)", "as field check 59's", "field\n  check 40 r5a",
        "return_ports, task hostproof: with", "(natfix)", "nu64a's", "(speedL)",
        "leftovers62", "task nu65b", "cbonly and fixrange", "ringframes", "wordsdata", "rangesmall",
    )
    for text in caught:
        assert history_tags(text), text
    kept = (
        "captures/field48-matrix", "lab-trial19-callback/v6-dualstack", "field48-matrix's",
        "captures/review56f/traceroute-probes-only", "session 10.77.0.2:6013 -> 10.77.0.1:22",
        "session 2's control connection", "step 4 `failed`", "as a new user reads it",
        "(captures/nu64b)", "captures/lab-hostproof/three-way-data-syns-dropped.pcap",
        "the backup task list", "a nat-fix", "task 2",
    )
    for text in kept:
        assert not history_tags(text), text


@pytest.mark.parametrize("page", PAGES)
def test_user_pages_hold_no_history(page: str) -> None:
    tags = history_tags((DOCS / f"{page}.md").read_text())
    assert not tags, f"docs/{page}.md: {len(tags)} history tags: {tags[:20]}"
