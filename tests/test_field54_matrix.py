"""Field check 54's lab matrix (captures/field54-matrix, README.md there), seed 117.

Run 9: a restore over IPv6 through a router, captured with dumpcap on both hosts and
merged keeping their two interfaces (no incoming or outgoing mark): each packet twice, the
far host's copy one hop lower. Its capture_duplicates read "a router's or bridge's,
captured on several interfaces at once (tcpdump -i any on it)", fix "capture one
interface of the router ... instead of -i any" (connections.relay_words.unmarked_routed).
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis
from test_relay_copies import _captures

from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "captures" / "field54-matrix"
ROUTED_MERGED = HERE / "restore-routed-both-hosts-merged-pcapng-snap96-ipv6.pcapng.gz"

EITHER = ("the file marking neither as coming in or going out: a router's several "
          "interfaces captured at once (a mirror of two of its ports, a capture of two of "
          "its interfaces), each packet as it came in and as it left, or two capture "
          "points' captures a router apart (one on each side of it) merged into one file; "
          "the file does not tell which")


def test_routed_copies_on_two_unmarked_interfaces_are_not_said_a_routers_any() -> None:
    analysis = stored_analysis(ROUTED_MERGED)
    assert analysis.verdict == "inconclusive"
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert "18 of them were told by where they were captured: another of the file's " \
           "interfaces or another MAC address pair, up to 2.1 ms after the original, its " \
           "TTL one lower (routed), " in copies.message
    assert EITHER in copies.message
    assert "tcpdump -i any on it" not in copies.message
    assert copies.fix.startswith("nothing to fix in the network for the copies; for each "
                                 "packet once, analyze one capture point's or one "
                                 "interface's packets alone")
    assert "instead of -i any" not in copies.fix


def test_a_mirror_of_a_routers_two_ports_gets_the_same_words(tmp_path: Path) -> None:
    # Ethernet, one interface: the copies told by their MAC pairs, which a router
    # rewrites; no packet type marks one coming in (tests/test_relay_copies.py).
    both, _ = _captures(tmp_path)
    config = build_config({})
    analysis = analyze(read_traffic([str(both)], config), config)
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert EITHER in copies.message
    assert "tcpdump -i any on it" not in copies.message
    assert copies.fix.endswith("or mirror or capture one port of the router")
