"""no_control_session for a capture with no TCP taken where the job's traffic would pass
(flowcheck.verify.never_reached).

Field check 77, seed 140 run 8 (captures/field77-matrix, stored): the router dropped the
control SYNs; `tcpdump -i any -y LINUX_SLL` on the agent held 4 packets, its own
neighbour discovery (tshark: frames 1 and 3-4 "Sent by us", DAD and router
solicitations from fe80::1cd5:9bff:fef2:9019) and the router's DAD (frame 2,
multicast). The words gave "the wrong interface, a filter, or stopped before the job
started" only: the job's packets dropped before the capture point was left out.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stored import shared_analysis, sidecar, stored_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding, Severity
from flowcheck.pipeline import read_traffic
from flowcheck.verify.capture_contents import explain_unreadable

NOTHING = (Path(__file__).resolve().parents[1] / "captures" / "field77-matrix" /
           "routed-ipv6-control-syns-dropped-by-router-agent-sll.pcap.gz")


def test_a_host_s_own_capture_without_the_job_names_a_drop_before_it() -> None:
    """The marks show a host's capture; which host, its packets do not say: hedged."""
    analysis = shared_analysis(NOTHING)
    [finding] = analysis.findings
    assert finding.code == "no_control_session"
    assert ("the wrong interface, a filter, or stopped before the job started; or, if it "
            "was taken on the media server or the agent (its Linux cooked headers mark "
            "packets the capture host sent), the job's packets never reached the capture "
            "point, dropped before it, by the sending host's own output rules or a router "
            "or firewall on the way).") in finding.message, finding.message
    assert "capture on the other as well" in finding.fix


def test_a_configured_host_s_own_packets_place_the_capture_on_its_way() -> None:
    """The same capture with the agent configured at the address that sent the router
    solicitations (frames 3, 4): the capture was taken where that host's traffic
    passes."""
    analysis = stored_analysis(NOTHING, config_path=sidecar(NOTHING),
                               remote_agents=["fe80::1cd5:9bff:fef2:9019"])
    [finding] = analysis.findings
    assert ("or the job's packets never reached the capture point, dropped before it, by "
            "the sending host's own output rules or a router or firewall on the way: it "
            "holds the agent fe80::1cd5:9bff:fef2:9019's own packets (2 packets that are not "
            "TCP, the first a router solicitation at frame 3), so it was taken where that "
            "host's traffic passes, on one of its interfaces at least, and the job's to or "
            "from it would be there unless it used another)") in finding.message, finding.message


def test_a_capture_filter_that_may_leave_tcp_out_places_no_job_s_packets() -> None:
    """review64m: the same capture recorded with the filter `icmp6` (a host's neighbour
    discovery kept, its TCP not): its own packets do not show the job's would be there,
    so the words do not say the job's packets never reached the capture point; the
    filter is named among the causes instead."""
    config = build_config({**load_file(sidecar(NOTHING)),
                           "remote_agents": ["fe80::1cd5:9bff:fef2:9019"]})
    traffic = read_traffic([str(NOTHING)], config)
    captures = [replace(c, capture_filter="icmp6") for c in traffic.captures]
    base = Finding("no_control_session", Severity.WARNING, "No NDMP control connection.",
                   "Check --ndmp-port.")
    (explained,) = explain_unreadable([base], captures, [], traffic.skipped, config)
    assert "the capture filter 'icmp6'" in explained.message, explained.message
    assert "never reached" not in explained.message, explained.message
    assert "capture on the other as well" not in explained.fix
