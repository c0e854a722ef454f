"""An agent behind a NAT read from its callback (newuser66 item 4; captures/newuser66-nat).

The router DNATs 10.66.1.200 to the agent 10.66.2.2 and masquerades its connections as
10.66.1.254; the agent announces 10.66.2.2. The fix led with "set its data interface /
preferred network" (an address the agent does not own) and the detail called 10.66.2.2
"another host, not one of this capture's NDMP agents"; --remote-agent 10.66.1.200
changed nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import errors, folder_analysis, stored_analysis

from flowcheck.report.answer import answer_rows, finding_parts

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "newuser66-nat"


@pytest.mark.parametrize("extra", [{}, {"remote_agents": ["10.66.1.200"]}])
def test_the_nat_leads_the_fix_and_the_inside_address_is_the_agents(extra: dict) -> None:
    result = (stored_analysis(FOLDER / "nat-media.pcap",
                              config_path=FOLDER / "flowcheck.toml", **extra)
              if extra else folder_analysis(FOLDER, "nat-media.pcap"))
    [session] = result.sessions
    fix = dict(answer_rows(session, result.findings))["fix:"]
    assert fix.startswith("on the NAT in front of the agent (it forwards 10.66.1.200's NDMP "
                          "port 10000 to the agent and shows the agent's connections as "
                          "10.66.1.254), forward 10.66.1.200's ports 6001-6100 (agent "
                          "range) to 10.66.2.2 as well"), fix
    [finding] = errors(result)
    assert finding.code == "announced_address_mismatch"
    assert "another host" not in finding.message, finding.message
    assert "10.66.2.2 is then the address the agent announced, its own behind that NAT" \
        in finding.message
    assert "came from 10.66.1.254, neither 10.66.1.200 nor the announced 10.66.2.2, " \
        "through a router (TTL 63)" in finding.message
    also = dict(finding_parts(finding))["Also:"]
    assert also.startswith("The agent's data interface / preferred network cannot name "
                           "10.66.1.200"), also
