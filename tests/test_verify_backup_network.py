"""control_off_backup_network on multi-homed hosts (new-user trial 19, D9).

One root cause, one error: the data left the backup network because the agent announced
its other NIC (mh1), because the media server reached the agent by a name that resolves
to its other NIC (dns1), or because the media server sent its data from its other NIC's
address (as1). Each read as one error per host outside, with the agent's name-resolution
fix, or "give the media server an address in the network" although the same session
shows it has one. Real captures: captures/lab-trial19-network (their .toml say how each
was made).
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab-trial19-network"
NET = "10.77.0.0/24"


@cache
def _analyze(name: str) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(LAB / f"{name}.pcap.gz")], config), config)


def _off(analysis: Analysis) -> list[Finding]:
    return [f for f in analysis.findings if f.code == "control_off_backup_network"]


def test_agent_announcing_its_other_nic_is_one_error_naming_the_announcement() -> None:
    analysis = _analyze("mh1-announce-other-nic")
    assert analysis.verdict == "fail"
    [finding] = _off(analysis)
    assert finding.session == "S1"
    assert "DATA_LISTEN" in finding.message and "frames 22, 275" in finding.message
    assert "announced 10.78.0.2" in finding.message
    assert "the control connection reached it at 10.77.0.2" in finding.message
    assert "end 10.78.0.1 follows from that" in finding.message  # the media server's
    assert {22, 275} <= set(finding.frames)
    assert finding.fix.startswith(f"Make the agent announce its address in {NET} "
                                  "(10.77.0.2")
    assert "data interface / preferred network" in finding.fix
    assert "resolve" not in finding.fix


def test_other_nic_data_connection_with_its_handshake_lost_reads_the_same(
        tmp_path: Path) -> None:
    """newuser58: mh1-announce-other-nic with the first data connection's handshake lost
    by the sniffer (frames 23-25: the agent's data from 10.78.0.2:6001 comes first): the
    same one error naming the DATA_LISTEN replies. It read capture_filtered ("no
    captured connection reached it") beside it, and once matched, a second error "The
    agent reached the media server at 10.78.0.1", the agent taken as the opener."""
    lossy = tmp_path / "lossy.pcap"
    subprocess.run(["editcap", str(LAB / "mh1-announce-other-nic.pcap.gz"), str(lossy),
                    "23", "24", "25"], check=True, capture_output=True)
    config = build_config(load_file(LAB / "mh1-announce-other-nic.toml"))
    analysis = analyze(read_traffic([str(lossy)], config), config)
    assert analysis.verdict == "fail"
    assert "capture_filtered" not in {f.code for f in analysis.findings}
    [finding] = _off(analysis)
    assert "announced 10.78.0.2" in finding.message
    assert "DATA_LISTEN replies, frames 22, 272" in finding.message


def test_agent_reached_by_its_other_nic_name_is_one_error_with_the_name_fix() -> None:
    analysis = _analyze("dns1-control-other-nic")
    assert analysis.verdict == "fail"
    [finding] = _off(analysis)
    assert "reached the agent at 10.78.0.2" in finding.message
    assert "2 connections of 1 session" in finding.message  # control and callback
    # The media server has an address in the network: its data connections' 10.77.0.1.
    assert "it has 10.77.0.1 inside" in finding.message
    assert finding.fix.startswith(f"Make the agent's name resolve to its address in {NET} "
                                  "(10.77.0.2")
    assert "Give the media server" not in finding.fix


def test_host_not_configured_says_the_session_shows_the_configured_address_too() -> None:
    analysis = _analyze("dns1-control-other-nic")
    media, agent = [f for f in analysis.findings if f.code == "host_not_configured"]
    assert "media server 10.78.0.1" in media.message
    assert "another address of the configured media server 10.77.0.1" in media.message
    assert "data connections" in media.message
    assert not media.fix.startswith("Capture on")
    assert "add 10.78.0.1 with --media-server" in media.fix
    assert "another address of the configured remote agent 10.77.0.2" in agent.message
    assert "add 10.78.0.2 with --remote-agent" in agent.fix


def test_media_server_sending_from_its_other_address_names_its_source_address() -> None:
    analysis = _analyze("as1-asymmetric-data")
    assert analysis.verdict == "fail"
    [finding] = _off(analysis)
    assert finding.message.startswith("The media server sent from 10.78.0.1, outside the "
                                      f"backup network {NET}")
    assert "10.77.0.1" in finding.message  # its control connection's address
    assert finding.fix.startswith(f"Make the media server send from its address in {NET} "
                                  "(10.77.0.1)")
    assert "source address" in finding.fix
    assert "resolve" not in finding.fix
