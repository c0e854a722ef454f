"""A firewall drop behind a NAT, read on the agent (new-user trial 31, D1).

The router between the media server 10.77.0.1 and the agent 10.77.1.2 masquerades the
media server's connections (the agent sees it as 10.77.1.254) and routes 10.77.0.0/24;
its forward chain drops the agent's SYNs to the mover's listen port. DATA_CONNECT names
the mover at 10.77.0.1, the media server's real and configured address, and the agent's
SYNs to it go unanswered. It read announced_address_mismatch ("The announced address is
the fault ... Opening firewall ports for the data range does not help"; fix: announce
10.77.1.254, the router): a firewall fault pointed away from the firewall. The same NAT
without the drop rule passes (trial 31 snat-good). It is data_unanswered, the NAT a note.
An announced address the configuration does not give the media server (or none given)
is still announced_address_mismatch: then the address may well be one the agent's side
cannot reach (an inside address behind the NAT).

captures/trial31-nat/snat-data-drop-at-agent.pcapng (README there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

FOLDER = Path(__file__).resolve().parent.parent / "captures" / "trial31-nat"
CAPTURE = FOLDER / "snat-data-drop-at-agent.pcapng"


def _errors(**changes: object) -> list[Finding]:
    values = load_file(FOLDER / "snat-data-drop-at-agent.toml")
    values.update(changes)
    config = build_config({k: v for k, v in values.items() if v is not None})
    analysis = analyze(read_traffic([str(CAPTURE)], config), config)
    assert analysis.verdict == "fail"
    return [f for f in analysis.findings if str(f.severity) == "error"]


@pytest.mark.parametrize("media_servers", [["10.77.0.1"], ["10.77.0.1", "10.77.1.254"]])
def test_syns_to_the_configured_media_server_unanswered_are_data_unanswered(
        media_servers: list[str]) -> None:
    [finding] = _errors(media_servers=media_servers)
    assert finding.code == "data_unanswered"
    assert finding.frames[:2] == [12, 14]  # the agent's SYNs to 10.77.0.1:5034
    assert "10.77.0.1:5034" in finding.message
    assert "announced address is the fault" not in finding.message
    # The media server's packets to the agent are in the capture, under the NAT's address:
    # no one-direction capture.
    assert "one direction only" not in finding.message
    # The NAT, a note: the control connection came from 10.77.1.254.
    assert "10.77.1.254" in finding.message and "NAT" in finding.message
    assert "Allow TCP from 10.77.1.2 to 10.77.0.1 ports 5001-5100" in finding.fix
    assert "does not help" not in finding.fix
    assert "announce 10.77.1.254" not in finding.fix


@pytest.mark.parametrize("media_servers", [None, ["10.77.1.254"]])
def test_an_announced_address_not_known_as_the_media_servers_stays_a_mismatch(
        media_servers: list[str] | None) -> None:
    """The opposite reading: nothing says 10.77.0.1 is the media server's address, so it
    may be an inside address the agent cannot reach: the address is the fault."""
    changes: dict[str, object] = {"media_servers": media_servers}
    if media_servers is None:
        changes["remote_agents"] = None
    codes = [f.code for f in _errors(**changes)]
    assert codes == ["announced_address_mismatch"]


def test_a_second_interface_configured_with_no_router_between_stays_a_mismatch() -> None:
    """A multi-homed agent announcing its second interface (10.79.0.2), both its addresses
    configured: every packet between the hosts arrives with TTL 64, no router between
    them, so no NAT shows the agent under 10.77.0.2; the announced interface the media
    server cannot reach is the fault (captures/lab/announced-other-address.pcap; review
    of trial 31 D1: it read data_unanswered, 'most likely a NAT')."""
    lab = FOLDER.parent / "lab"
    values = load_file(lab / "announced-other-address.toml")
    values["remote_agents"] = ["10.77.0.2", "10.79.0.2"]
    config = build_config(values)
    analysis = analyze(read_traffic([str(lab / "announced-other-address.pcap")], config),
                       config)
    codes = [f.code for f in analysis.findings if str(f.severity) == "error"]
    assert codes == ["announced_address_mismatch"]
    assert not any("NAT between the hosts shows" in f.message for f in analysis.findings)
