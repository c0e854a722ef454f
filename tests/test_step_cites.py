"""Step.cites, the finding codes a step's detail cites, is the detail's own (stepcodes63:
report.verdict_notes decided from the words, a regex over each unknown step's detail):
over every stored case, each "(snake_code)" a step's detail shows is in its cites and
each of its cites is shown, so a detail builder that writes a code without citing it,
or cites one it does not write, fails here."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
from stored import case_analysis, stored_cases

from flowcheck.findings import CATALOGUE
from flowcheck.model import Said, Step, cited, cites_of
from flowcheck.regress import Case

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
# A finding code (flowcheck.findings.CATALOGUE) as the words name it, a word of its own:
# "(capture_loss)", "(capture_ring_gap: between ...)", "(segments the sniffer missed:
# capture_loss; ...)", "(capture_loss says why ...)". Words only the test reads.
_SHOWN = re.compile(r"(?<![a-z_])(" + "|".join(sorted(CATALOGUE, key=len, reverse=True))
                    + r")(?![a-z_])")


def shown(step: Step) -> set[str]:
    """The finding codes step.detail names."""
    return set(_SHOWN.findall(step.detail))


@pytest.mark.parametrize("case", stored_cases(),
                         ids=lambda case: str(case.capture.relative_to(CAPTURES)))
def test_a_steps_cites_are_the_codes_its_detail_shows(case: Case) -> None:
    analysis = case_analysis(case.capture, case.config_path)  # shared: read only
    wrong = [(session.id, step.step, sorted(shown(step)), list(step.cites), step.detail)
             for session in analysis.sessions for step in session.steps
             if shown(step) != set(step.cites) or list(step.cites) != sorted(set(step.cites))]
    assert not wrong


def test_the_pattern_sees_each_way_a_code_is_written() -> None:
    """The test's pattern finds a finding code however the words write it, and no other
    snake_case word (a status, a setting, a longer code's part)."""
    step = Step(1, "control", "unknown", detail=(
        "a (capture_loss), b (missed: ndmp_undecodable; c), d (capture_ring_gap says why) "
        "(not_applicable) (ndmp_port) (frame 3) (C1) capture_filtered_x control_closed"))
    assert shown(step) == {"capture_loss", "ndmp_undecodable", "capture_ring_gap",
                           "control_closed"}


def test_said_carries_its_cites_as_a_str() -> None:
    """Said is its words wherever a str goes (a finding's message), its cites sorted and
    once each, kept through a pickle (tests/stored copies analyses so); cited refuses a
    str, whose letters are no codes."""
    said = Said("lost (capture_loss) (capture_filtered)", ["capture_loss", "capture_filtered",
                                                           "capture_loss"])
    assert said == "lost (capture_loss) (capture_filtered)" and isinstance(said, str)
    assert said.cites == ("capture_filtered", "capture_loss")
    again = pickle.loads(pickle.dumps(said))
    assert again == said and again.cites == said.cites
    assert cites_of(said, "plain", None) == said.cites
    assert cited(["b", "a"], ("a",)) == ("a", "b")
    with pytest.raises(TypeError):
        cited("capture_loss")  # type: ignore[arg-type]
