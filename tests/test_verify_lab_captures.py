"""End to end over the lab's Backup Exec captures (captures/lab, made on real sockets by
flowcheck.lab): each capture's configuration file states what it shows ("# expect:"),
written from the scenario, not from flowcheck's output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from stored import shared_analysis

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
CAPTURES = sorted(LAB.glob("*.pcap"))
_EXPECT = re.compile(r"#\s*expect:\s*verdict (pass|fail|inconclusive); findings (.+)")


def _expectation(config_path: Path) -> tuple[str, set[str] | None]:
    match = next(m for line in config_path.read_text().splitlines()
                 if (m := _EXPECT.search(line)))
    findings = match.group(2).strip()
    codes = None if findings.startswith("none") else {c.strip() for c in findings.split(",")}
    return match.group(1), codes


@pytest.mark.skipif(not CAPTURES, reason="no lab captures")
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_lab_capture_meets_its_expectation(capture: Path) -> None:
    config_path = capture.with_suffix(".toml")
    # The run's one analysis of the stored case (capture and sidecar), read only.
    analysis = shared_analysis(capture)
    verdict, codes = _expectation(config_path)
    reported = {f.code for f in analysis.findings if str(f.severity) in ("error", "warning")}
    assert analysis.verdict == verdict, [f.message for f in analysis.findings]
    if codes is None:
        assert reported == set()
    else:
        assert reported == codes  # the named cause, and no other error or warning
