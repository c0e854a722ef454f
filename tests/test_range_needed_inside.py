"""range_too_small counts what the range had to hold, ports outside it said apart
(newuser65).

tests/data/newuser65/agfull5-headers.pcap: newuser65's agfull5.pcap (a Backup Exec lab
job of 4 resources, agent range 6001-6003) without its data segments over 1000 B
(`tshark -Y "not (tcp.len > 1000) or tcp.flags.fin==1 or tcp.flags.syn==1"`). Its
fourth DATA_LISTEN found the range's 3 ports held; the callback's source port 6067 is
outside the range. range_too_small said "needed 4 ports at once (..., those outside the
range included: C3 on 6001, C4 on 6002, C5 on 6003, C2 on 6067)": 4 by coincidence of
the callback's port, counted with the range's. It now counts the range's 3 held and the
one asked for, and names the port outside it apart (verify.capacity).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic

DATA = Path(__file__).resolve().parent / "data" / "newuser65"


def test_range_too_small_counts_the_ranges_ports_and_names_the_outside_apart() -> None:
    config = build_config({"profile": "backup-exec-9", "media_range": "5001-5100",
                           "agent_range": "6001-6003"})
    analysis = analyze(read_traffic([str(DATA / "agfull5-headers.pcap")], config), config)
    [finding] = [f for f in analysis.findings if f.code == "range_too_small"]
    assert "10.77.0.2 needed 4 ports of the range at once (the 3 of the range in use or " \
        "held 60 s after use when the DATA_LISTEN request" in finding.message, finding.message
    assert "asked for one more); besides, outside the range: C2 on 6067. The job " \
        "stopped" in finding.message, finding.message
    assert "those outside the range included" not in finding.message
    assert "to at least 4 " in finding.fix
