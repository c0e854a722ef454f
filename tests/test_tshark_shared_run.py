"""The tshark run the connection-count and NDMP tests share (tshark_tcp) decodes with TCP
desegmentation on, as NDMP's messages need; the counts compare a frame's own TCP fields,
which must then be what tshark prints with desegmentation off (its default for counting
each segment as captured). (The NDMP test's second run, out-of-order reassembly off for
captures whose holes stay open, is read for NDMP's fields only.)

Checked on the stored captures where reassembly could change them: holes the sniffer
left, segments cut by the snap length, packets missing on the path, tunnels, ICMP errors
quoting TCP. (All stored captures agreed when the run was first shared.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tshark_fork
from tshark_tcp import FIELDS, is_icmp, tcp_fields

ROOT = Path(__file__).resolve().parent.parent
REASSEMBLY_MATTERS = [
    "captures/lab/snaplen-54.pcap",
    "captures/ndmjob-firewall/v3-snap96-media-drop.pcap",
    "captures/field38-matrix/agent-killed-snap96-two-points.pcap",
    "captures/ndmjob-filtered-packets/flags-media.pcap",
    "captures/ndmjob-sniffloss/fh-hole-mid-media.pcap.gz",
    "captures/ndmjob-sniffloss/v2-env100-hole-media.pcap.gz",
    "captures/ndmjob-pathloss/fh-pathloss-media.pcap.gz",
    "captures/lab-trial22-tunnels/callback-rejected.erspan2split.pcap.gz",
    "captures/lab-trial22-tunnels/data-port-in-use.vxlanasym.pcap.gz",
    "captures/ndmjob-hostdown/v4-ifdown-back-agent.pcap.gz",
    "captures/ndmjob-pmtu/v4-pmtu-blackhole-at-agent.pcap",
]
TCP_FIELDS = [name for name in FIELDS if not name.startswith(("ndmp.", "frame."))]


def desegmentation_off(path: Path) -> list[list[str]]:
    rows = tshark_fork.fields(path, "", "frame.protocols", *TCP_FIELDS,
                              options=("-o", "tcp.desegment_tcp_streams:FALSE"))
    return [[str(is_icmp(protocols)), *rest] for protocols, *rest in rows]


@pytest.mark.parametrize("name", REASSEMBLY_MATTERS)
def test_shared_run_has_each_frames_own_tcp_fields(name: str) -> None:
    path = ROOT / name
    shared = [[str(is_icmp(protocols)), *rest] for protocols, *rest in (
        line.split("\t") for line in tcp_fields(path, ["frame.protocols", *TCP_FIELDS]
                                                ).splitlines())]
    expected = desegmentation_off(path)
    assert expected
    assert shared == expected
