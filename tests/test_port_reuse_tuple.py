"""port_reused_within_hold only where the reuse can clash (newuser66 item 5).

TCP holds a closed connection's 4-tuple in TIME-WAIT, not its port (RFC 9293 3.6.1,
3.10.7.4): one local port connecting to two different peer endpoints never clashes, and
a SYN sent from the port shows its bind worked. It warned on 10.66.1.1:5005 connecting
to 10.66.2.2:6002 and then 10.66.3.2:6002 (captures/newuser66-twojobs). It still warns
on the same 4-tuple again and on a listener's port (its bind can meet the TIME-WAIT).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _reused(case: str, config: str) -> list[str]:
    """The messages of the capture's port_reused_within_hold findings."""
    result = stored_analysis(CAPTURES / case, config_path=CAPTURES / config)
    return [f.message for f in result.findings if f.code == "port_reused_within_hold"]


@pytest.mark.parametrize(("case", "config"), [
    # The media server's 5005 to two agents' 6002: two 4-tuples.
    ("newuser66-twojobs/twojobs-s96.pcap", "newuser66-twojobs/flowcheck.toml"),
    # ndmjob's agent port 6015 to the media server's 5092, then 5080, 3.1 s later.
    ("ndmjob/v4-three-resources.pcap", "ndmjob/flowcheck.toml"),
])
def test_one_port_to_two_peers_is_no_reuse(case: str, config: str) -> None:
    assert _reused(case, config) == []


def test_the_same_four_tuple_and_a_listeners_port_still_warn() -> None:
    # 10.77.0.1:5097 to 10.77.0.15:10000 at 28.4 s and again at 35.3 s (to 10.77.0.12 and
    # 10.77.0.22 between them: no clash); it warned on the first other peer, 2.22 s.
    many = _reused("trial35-many/three-agents-failing.pcap",
                   "trial35-many/three-agents-failing.toml")
    assert any(m.startswith("Port 10.77.0.1:5097 (media side) was used again by a new "
                            "connection 1.41 s after") for m in many), many
    # The mover's listening port 5001, again 6.24 s later; 5000 (to two agents) no more.
    b2b = _reused("ndmjob-nojob/C-b2b-reuse.pcap.gz", "ndmjob-nojob/C-b2b-reuse.toml")
    assert [m.split(" (")[0] for m in b2b] == ["Port 10.77.0.1:5001", "Port 10.77.0.1:5003"]
