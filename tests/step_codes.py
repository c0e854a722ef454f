"""The finding codes a step's detail shows, read from its words: what the tests hold
Step.cites to (model.said; stepcodes63, review63c). Words only the tests read: flowcheck
decides from Step.cites, set where each detail is built.

tests/conftest.py checks every Step any test's analysis builds (cites_checked), so a
detail builder that forgets its cites fails wherever a test reaches it, not only in the
stored cases tests/test_step_cites walks."""

from __future__ import annotations

import re

from flowcheck.findings import CATALOGUE
from flowcheck.model import Step

# A finding code (flowcheck.findings.CATALOGUE) as the words name it, a word of its own:
# "(capture_loss)", "(capture_ring_gap: between ...)", "(segments the sniffer missed:
# capture_loss; ...)", "(capture_loss says why ...)".
_SHOWN = re.compile(r"(?<![a-z_])(" + "|".join(sorted(CATALOGUE, key=len, reverse=True))
                    + r")(?![a-z_])")


def shown(step: Step) -> set[str]:
    """The finding codes step.detail names."""
    return set(_SHOWN.findall(step.detail))


def disagreement(step: Step) -> str | None:
    """What is wrong with the step's cites beside its detail (codes shown and not cited,
    cited and not shown, cites not sorted once each), or None when they agree."""
    codes = shown(step)
    if codes == set(step.cites) and list(step.cites) == sorted(codes):
        return None
    return (f"step {step.step} ({step.name}) cites {list(step.cites)} but its detail shows "
            f"{sorted(codes)}: {step.detail[:300]!r}")
