"""Trial 28 D10 and D16: IPv6 rejects in ICMPv6's words. ICMPv6 destination unreachable
codes 5 and 6 were called "administratively prohibited" (code 1's name; RFC 4443 3.1:
5 is "source address failed ingress/egress policy", 6 "reject route to destination"),
and every IPv6 reject was an "ICMP" one, with nft's IPv4 `reject with icmp type
host-unreachable` as the rule to look for."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from stored import stored_analysis

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis

STORED = Path(__file__).resolve().parent.parent / "captures" / "lab-trial28-ndp"


def _stored(name: str) -> Analysis:
    return stored_analysis(STORED / f"{name}.pcap")


def _error(analysis: Analysis, code: str):
    [finding] = [f for f in analysis.findings if f.code == code]
    return finding


def test_code_5_is_a_source_address_policy_and_says_so() -> None:
    analysis = _stored("routed-control-policyfail-media")
    refused = _error(analysis, "control_refused")
    assert ('an ICMPv6 unreachable "source address failed ingress/egress policy" (code 5) '
            "from fd79::fe" in refused.message)
    assert "administratively prohibited" not in refused.message
    assert "refuses packets from fd79::1's source address" in refused.message
    assert refused.fix.startswith("Check the source address fd79::1 uses toward fd7a::2")
    assert "in the forward chain of fd79::fe" in refused.fix  # a reject on purpose
    [step] = [s for s in analysis.sessions[0].steps if s.status == "failed"]
    assert '"source address failed ingress/egress policy" (code 5)' in step.detail


def test_code_6_is_a_reject_route() -> None:
    refused = _error(_stored("routed-control-rejectroute-media"), "control_refused")
    assert ('an ICMPv6 unreachable "reject route to destination" (code 6) from fd79::fe'
            in refused.message)
    assert "administratively prohibited" not in refused.message
    assert "holds a reject route to fd7a::2" in refused.message
    assert refused.fix.startswith("Check fd79::fe's routes to fd7a::2")


def test_an_ipv6_reject_is_told_in_icmpv6_words_with_nfts_icmpv6_rule() -> None:
    analysis = _stored("v6-callback-noroute-media")
    refused = _error(analysis, "callback_refused")
    assert "answered the SYN with an ICMPv6 no route to destination (code 0)" in refused.message
    assert "`reject with icmpv6 no-route`" in refused.message
    assert "icmp host-unreachable" not in refused.message
    assert "host or network unreachable" not in refused.message
    console = Console(width=300, record=True, color_system=None)
    render_analysis(analysis, console, ladder=True)
    text = console.export_text()
    assert " ICMP " not in text and "ICMP unreachable" not in text
    assert "ICMPv6 unreachable" in text  # the ladder's arrow


def test_ipv4_rejects_keep_their_words() -> None:
    """The IPv4 twin: "ICMP host unreachable", `reject with icmp host-unreachable`."""
    folder = STORED.parent / "lab-trial19-refuse"
    config = build_config(load_file(folder / "cb3-callback-host-unreachable.toml"))
    analysis = analyze(read_traffic([str(folder / "cb3-callback-host-unreachable.pcap")],
                                    config), config)
    refused = _error(analysis, "callback_refused")
    assert "ICMP host unreachable (code 1)" in refused.message
    assert "ICMPv6" not in refused.message
