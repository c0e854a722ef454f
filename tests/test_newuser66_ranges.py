"""A full agent range where other jobs of the capture worked (newuser66,
captures/newuser66 and its README).

Four 1-resource jobs 0.5 s apart to an agent whose range (and OS range) is 6001-6004:
jobs 1-2 worked, jobs 3-4's callback found no source port ("Cannot assign requested
address": the earlier jobs' ports in TIME_WAIT). The failed steps read the full range as
their likely cause, yet their fix led with firewall rules: verify.profile_followed
swapped each step_missing for a dataclasses.replace copy (a job of the capture followed
the profile), and verify.range_stops wrote "Widen ... first" on the discarded original.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

CASES = Path(__file__).resolve().parent.parent / "captures" / "newuser66"
WIDEN = "Widen the agent range 6001-6004 (agent range) first, to at least"


@pytest.fixture(scope="module")
def results() -> dict[str, Analysis]:
    out = {}
    for name in ("agent-range-timewait", "agent-range-timewait-on-agent"):
        config = build_config(load_file(CASES / f"{name}.toml"))
        out[name] = analyze(read_traffic([str(CASES / f"{name}.pcap.gz")], config), config)
    return out


def missing(result: Analysis) -> list[Finding]:
    return [f for f in result.findings if f.code == "step_missing"]


@pytest.mark.parametrize("name", ["agent-range-timewait", "agent-range-timewait-on-agent"])
def test_a_full_range_leads_the_fix_beside_a_job_that_worked(results, name) -> None:  # noqa: ANN001
    """Both stopped callbacks (S3, S4) read the full range as their cause, name the job
    that followed the profile (the rewrite that copied the finding), and their fix widens
    the range first, the firewall rules after it."""
    found = missing(results[name])
    assert [f.session for f in found] == ["S3", "S4"]
    for finding in found:
        assert "likely because its agent range 6001-6004 had no port left" in finding.message
        assert "session S1 of this capture did, every step of the backup-exec-9 profile ok" \
            in finding.message
        assert finding.fix.startswith(WIDEN), finding.fix
        assert "If the job still fails with the range widened: " in finding.fix
        assert "allow TCP from 10.66.2.2 to 10.66.1.1 ports 5001-5100" in finding.fix


def test_a_capture_on_the_agent_is_not_sent_to_the_agent(results) -> None:  # noqa: ANN001
    """Taken on the agent (its packets with TTL 64, the media server's 63): no SYN of the
    callback left it, so the step says the agent never sent it or its own outbound rules
    dropped it, and no finding's words ask for a capture on the agent (the fix ended
    "capture on the agent to see its SYNs leave"). The same jobs captured on the media
    server keep that advice."""
    on_agent = results["agent-range-timewait-on-agent"]
    for finding in missing(on_agent):
        assert "This capture was taken on the agent 10.66.2.2 (or on its network segment: " \
               "10.66.2.2's packets arrive with TTL 64" in finding.message
        assert "no SYN of the callback left it" in finding.message
        assert "If the job still fails with the range widened: read the agent " \
               "10.66.2.2's log at that time" in finding.fix
        assert "in the agent's own outbound rules" in finding.fix
    for finding in on_agent.findings:
        assert "capture on the agent" not in f"{finding.message} {finding.fix}".lower()
    on_media = missing(results["agent-range-timewait"])
    assert all("capture on the agent to see its SYNs leave" in f.fix for f in on_media)
