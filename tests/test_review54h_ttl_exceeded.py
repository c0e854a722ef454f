"""Review 54h: SYNs whose TTL ran out in a routing loop, each answered by an ICMP time
exceeded from a router (captures/review54h, README.md there).

M (10.54.1.2) connects to 10.54.9.9:10000 across two routers that each route
10.54.9.0/24 via the other: each SYN loops until its TTL runs out, and R2 (10.54.2.2)
sends M an ICMP time exceeded quoting it (frames 66, 131). flowcheck read
control_unanswered "never got an answer ... a reject (RST, ICMP unreachable) the
capture lacks" with a one-direction hedge and a firewall fix: the decoder read only
unreachables and packets too big. The quotes now attach to the connection
(Connection.ttl_exceeded_frames, connections.icmp_attach.told_ttl_exceeded) and the
words name the router and the routing (verify.ttl_exceeded). An IPv6 variant (ICMPv6
type 3, RFC 4443 3.3) is built with scapy.
"""

from __future__ import annotations

from pathlib import Path

from scapy.all import TCP, Ether, ICMPv6TimeExceeded, IPv6, wrpcap
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

HERE = Path(__file__).resolve().parents[1] / "captures" / "review54h"
LOOP = HERE / "control-syns-in-routing-loop-one-bridge-port-ether.pcap.gz"


def _unanswered(analysis: Analysis):
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    return finding


def test_routing_loop_syns_read_their_time_exceeded() -> None:
    analysis = shared_analysis(LOOP)
    [conn] = analysis.traffic.connections
    assert conn.ttl_exceeded_frames == [66, 131]
    assert conn.ttl_exceeded_sender == "10.54.2.2"
    assert conn.icmp_frames == []  # no reject: TCP resends after a time exceeded
    finding = _unanswered(analysis)
    assert ("and got no SYN-ACK or RST: each SYN drew an ICMP time exceeded from 10.54.2.2 "
            "(frames 66, 131): its TTL ran out on the way to 10.54.9.9, a routing loop or a "
            "path longer than the TTL" in finding.message)
    assert "one direction" not in finding.message
    assert "unreachable" not in finding.message
    assert finding.fix.startswith("The fix is the routing between 10.54.1.2 and 10.54.9.9, "
                                  "not a firewall rule: check the route to 10.54.9.9 on "
                                  "10.54.2.2")
    assert "allow TCP" not in finding.fix.split("`flowcheck firewall`")[0]
    step = analysis.sessions[0].steps[0]
    assert step.detail == ("unanswered: 2 SYNs over 1.03 s, no SYN-ACK or RST; ICMP time "
                           "exceeded from 10.54.2.2 (frames 66, 131)")


M6, AGENT6, ROUTER6 = "fd54:1::2", "fd54:9::9", "fd54:2::2"


def _ipv6_loop(tmp_path: Path, code: int = 0) -> Analysis:
    """Two SYNs 1 s apart from M6 to AGENT6:10000, each answered 1 ms later by ROUTER6's
    ICMPv6 time exceeded (code 0: hop limit exceeded in transit; 1: fragment reassembly
    time exceeded) quoting it at hop limit 1."""
    frames = []
    for ts in (1.0, 2.0):
        syn = TCP(sport=42786, dport=10000, flags="S", seq=1000)
        out = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / \
            IPv6(src=M6, dst=AGENT6, hlim=64) / syn
        quoted = IPv6(src=M6, dst=AGENT6, hlim=1) / syn
        back = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / \
            IPv6(src=ROUTER6, dst=M6, hlim=63) / ICMPv6TimeExceeded(code=code) / quoted
        out.time, back.time = ts, ts + 0.001
        frames += [out, back]
    path = tmp_path / "loop6.pcap"
    wrpcap(str(path), frames)
    toml = tmp_path / "loop6.toml"
    toml.write_text(f'ndmp_port = 10000\nmedia_range = "5001-5100"\n'
                    f'agent_range = "6001-6100"\nmedia_servers = ["{M6}"]\n'
                    f'remote_agents = ["{AGENT6}"]\n')
    config = build_config(load_file(toml))
    return analyze(read_traffic([str(path)], config), config)


def test_ipv6_hop_limit_exceeded_reads_the_same(tmp_path: Path) -> None:
    analysis = _ipv6_loop(tmp_path)
    [conn] = analysis.traffic.connections
    assert conn.ttl_exceeded_frames == [2, 4]
    assert conn.ttl_exceeded_sender == ROUTER6
    finding = _unanswered(analysis)
    assert (f"each SYN drew an ICMP time exceeded from {ROUTER6} (frames 2, 4): its TTL ran "
            f"out on the way to {AGENT6}" in finding.message)
    assert "one direction" not in finding.message
    assert finding.fix.startswith(f"The fix is the routing between {M6} and {AGENT6}")


def test_a_reassembly_timeout_is_no_ttl_run_out(tmp_path: Path) -> None:
    """Code 1 (fragment reassembly time exceeded) says nothing of a TTL: not read, nor
    taken for a reject."""
    analysis = _ipv6_loop(tmp_path, code=1)
    [conn] = analysis.traffic.connections
    assert conn.ttl_exceeded_frames == [] and conn.icmp_frames == []
    assert "time exceeded" not in _unanswered(analysis).message
