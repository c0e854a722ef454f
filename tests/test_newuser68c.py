"""New-user trial 68 items 3 and 6 (captures/newuser68c, its README): the agent's NDMP
port other than 10000 with no --ndmp-port, and an asymmetric way back that the Linux
cooked headers' interface indexes show."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sources.cooked_interfaces import cooked_interfaces
from flowcheck.verify.openings_only import one_other_port

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "newuser68c"


def _findings(name: str, **flags: object) -> list[Finding]:
    config = build_config(load_file(FOLDER / "flowcheck.toml"), flags)
    result = analyze(read_traffic([str(FOLDER / f"{name}.pcap")], config), config)
    assert result.verdict == "fail"
    return result.findings


def test_repeated_syns_to_one_other_port_lead_with_the_ndmp_port() -> None:
    """4 SYNs 10.68.1.1 -> 10.68.2.2:10100, an agent listening on 10100, no --ndmp-port:
    the fix led "if this is a firewall's drop capture (ASA asp-drop)", --ndmp-port only
    under "Else"; now it leads with the port, hedged, the drop capture kept after it."""
    [found] = [f for f in _findings("p10100-ctldrop") if f.code == "no_control_session"]
    assert found.fix.startswith(
        "If the agent's NDMP port is 10100 (every SYN in the capture goes to that one port, "
        "resent as an unanswered control connection's are), analyze the capture again with "
        "--ndmp-port 10100: its SYNs then read as the control connection's, unanswered. "
        "If this is a firewall's drop capture, allow these connections")
    assert "Check --ndmp-port" not in found.fix
    # Given the port, the same capture is the control connection's failure.
    codes = [f.code for f in _findings("p10100-ctldrop", ndmp_port=10100)]
    assert "control_unanswered" in codes and "no_control_session" not in codes


def test_syns_to_a_port_of_a_range_given_are_no_ndmp_port_guess() -> None:
    """The same SYNs, 10100 inside a range the user gave (a callback's or data
    connection's port), or to the NDMP port itself, or one SYN alone: no guess at the
    NDMP port."""
    config = build_config(load_file(FOLDER / "flowcheck.toml"))
    conns = read_traffic([str(FOLDER / "p10100-ctldrop.pcap")], config).connections
    assert one_other_port(conns, 10000) == 10100
    assert one_other_port(conns, 10000, [(6001, 6100), (10001, 10200)]) is None
    assert one_other_port(conns, 10100) is None
    assert one_other_port([replace(conns[0], orig_pkts=1)], 10000) is None
    found = _findings("p10100-ctldrop", agent_range="6001-6100,10001-10200")
    assert not any("--ndmp-port 10100" in f.fix for f in found)


ASYMMETRIC = ("Its cooked headers also show the two directions on different interfaces of "
              "10.68.1.1: its packets to 10.68.2.2 leave by interface index 2, 10.68.2.2's "
              "to it arrive on index 3 (`ip link` on 10.68.1.1 names them), so the way back "
              "passes another router or link (asymmetric routing). A stateful firewall that "
              "sees one direction only would drop the SYN-ACKs")


def test_an_asymmetric_way_back_the_cooked_headers_show_is_said() -> None:
    """`tcpdump -i any` on the media server, the agent's replies routed through router s
    (which drops the data SYN-ACKs): the SLL2 headers show 10.68.1.1's packets leaving on
    index 2, 10.68.2.2's arriving on index 3. data_unanswered said only "a capture on
    10.68.2.2 shows which way"; now it names the two interfaces and the stateful device
    that sees one direction."""
    [found] = [f for f in _findings("asym-many") if f.code == "data_unanswered"]
    assert ASYMMETRIC in found.fix
    assert "route both directions through one device or accept the replies there without " \
        "connection state" in found.fix


def test_one_interface_both_ways_says_no_asymmetry() -> None:
    """The media server's `-i any` of the same fault on a symmetric path (lab
    data-port-dropped-any: both directions on index 2): no such words."""
    folder = FOLDER.parent / "lab"
    config = build_config(load_file(folder / "data-port-dropped-any.toml"))
    result = analyze(read_traffic([str(folder / "data-port-dropped-any.pcap")], config), config)
    [found] = [f for f in result.findings if f.code == "data_unanswered"]
    assert "Linux cooked headers show it): a capture on 10.77.0.2" in found.fix
    assert "different interfaces" not in found.message + found.fix


def test_the_cooked_interfaces_of_both_ip_versions() -> None:
    """sources.cooked_interfaces: per (sender, receiver, packet type) the SLL2 interface
    indexes, IPv4 and IPv6 (a dual-stack `-i any` on the media server: one interface);
    nothing from standard input, which cannot be read again."""
    found = cooked_interfaces([str(FOLDER / "asym-many.pcap")])
    assert found == {("10.68.1.1", "10.68.2.2", 4): frozenset({2}),
                     ("10.68.2.2", "10.68.1.1", 0): frozenset({3})}
    dual = cooked_interfaces([str(FOLDER.parent / "field78-matrix" / "dual-data-synacks-"
                                  "dropped-by-agent-output-media-sll2-loss.pcap.gz")])
    assert dual[("fd77::1", "fd77::2", 4)] == dual[("fd77::2", "fd77::1", 0)] == {2}
    assert dual[("10.77.0.1", "10.77.0.2", 4)] == {2}
    assert cooked_interfaces(["-"]) == {}
