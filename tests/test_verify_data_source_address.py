"""Data SYNs from a second address of the media server, dropped by the agent's firewall
that admits the data range from the media server's control address only (new-user
trial 19, D13). The capture holds both directions (control and callback both ways): the
one-direction hint ("the capture may hold one direction only") sent the user to capture
again for nothing, and nothing said that the media server used another source address for
data than for control, which a rule for its control address misses.
Real capture: captures/lab-trial19-network/ms2-other-src-dropped (its .toml says how it
was made).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab-trial19-network"


def test_data_syns_from_another_source_address_name_it_not_one_direction() -> None:
    config = build_config(load_file(LAB / "ms2-other-src-dropped.toml"))
    analysis = analyze(read_traffic([str(LAB / "ms2-other-src-dropped.pcap.gz")], config),
                       config)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "data_unanswered" and finding.uid == "C3"
    assert "one direction" not in finding.message
    assert "holds no packet at all" not in finding.message
    assert ("The media server opened it from 10.77.0.11, not from 10.77.0.1, the address of "
            "its control connection") in finding.message
    assert "a rule for the media server's address 10.77.0.1 does not match it" \
        in finding.message
    assert "holds 10.77.0.2's packets to 10.77.0.1" in finding.message
    assert finding.fix.startswith("Allow TCP from 10.77.0.11 to 10.77.0.2 ports 6001-6100")
    assert "the media server can send these connections from 10.77.0.1" in finding.fix
    # The rules `flowcheck firewall` prints cover the address the data came from.
    assert "--media-server 10.77.0.1 --media-server 10.77.0.11 " in finding.fix
