"""range_too_small counts what the range had to hold, ports outside it said apart
(newuser65).

tests/data/newuser65/agfull5-headers.pcap: newuser65's agfull5.pcap (a Backup Exec lab
job of 4 resources, agent range 6001-6003) without its data segments over 1000 B
(`tshark -Y "not (tcp.len > 1000) or tcp.flags.fin==1 or tcp.flags.syn==1"`). Its
fourth DATA_LISTEN found the range's 3 ports held; the callback's source port 6067 is
outside the range. range_too_small said "needed 4 ports at once (..., those outside the
range included: C3 on 6001, C4 on 6002, C5 on 6003, C2 on 6067)": 4 by coincidence of
the callback's port, counted with the range's. It now counts the range's 3 held and what
the job still needed there (its 4 resources' ports and its callback's, less the 3 of its
own held: 5, the job's whole need; newuser66 item 2, verify.range_need), and names the
port outside it apart (verify.capacity).
"""

from __future__ import annotations

from pathlib import Path

from frame_cuts import frame_range

from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic

DATA = Path(__file__).resolve().parent / "data" / "newuser65"


def test_range_too_small_counts_the_ranges_ports_and_names_the_outside_apart() -> None:
    config = build_config({"profile": "backup-exec-9", "media_range": "5001-5100",
                           "agent_range": "6001-6003"})
    analysis = analyze(read_traffic([str(DATA / "agfull5-headers.pcap")], config), config)
    [finding] = [f for f in analysis.findings if f.code == "range_too_small"]
    # The 3 held and what the job still needed: 3 data ports announced and a fourth asked
    # for, 4 resources + its callback's port, less the 3 of its own held (newuser66 item
    # 2: it read 4, the held and the one asked for).
    assert "10.77.0.2 needed 5 ports of the range at once (as the DATA_LISTEN request " \
        "(frame 261) came, session S1: the 3 of the range in use or held 60 s after use, " \
        "and the ports still needed by the job that stopped on the full range: 2 for S1 " \
        "(a job binds " \
        in finding.message, finding.message
    assert "--resources not given)); besides, outside the range: C2 on 6067 (a stopped " \
        "job's need counts each port it binds, those outside too: bound in the range, as " \
        "the range checks ask, they need ports there). The job stopped" in finding.message, \
        finding.message
    assert "those outside the range included" not in finding.message
    assert "to at least 5 " in finding.fix


def test_range_too_small_without_a_stopped_step_says_the_outside_ports_apart(
        tmp_path: Path) -> None:
    """agfull5-headers.pcap to frame 260 (`editcap -r ... 1-260`), before its fourth
    DATA_LISTEN: the agent held the range's 3 ports (C3 on 6001, C4 on 6002, C5 on 6003)
    and the callback's 6067 outside it at once. range_too_small said "needed 4 ports at
    once (..., those outside the range included: C3 on 6001, ..., C2 on 6067)", read as
    4 of the range. The 4 still count (an agent binding only in the range needs them
    there: the whole capture ran out at the fourth DATA_LISTEN, and
    port_outside_agent_range's "bind in 6001-6003" is widened to 4), the range's and the
    outside ones said apart."""
    cut = frame_range(DATA / "agfull5-headers.pcap", tmp_path / "to260.pcap", 1, 260)
    config = build_config({"profile": "backup-exec-9", "media_range": "5001-5100",
                           "agent_range": "6001-6003"})
    findings = analyze(read_traffic([str(cut)], config), config).findings
    [finding] = [f for f in findings if f.code == "range_too_small"]
    assert "10.77.0.2 needed 4 ports at once (ports in use plus those held 60 s after " \
        "use): 3 in the range (C3 on 6001, C4 on 6002, C5 on 6003) and 1 outside it (C2 " \
        "on 6067), which it would need in the range as well" in finding.message, \
        finding.message
    assert "those outside the range included" not in finding.message
    assert "to at least 4 " in finding.fix
    [outside] = [f for f in findings if f.code == "port_outside_agent_range"]
    assert outside.session is not None
