"""Trial 23 D4: a configured agent (--remote-agent) with no control connection in the
capture. An agent down on the media server's own LAN leaves only the media server's ARP
requests for it, never answered, and no TCP at all: it read PASS with no word of that
agent. Now `agent_unreachable` (an error, the ARP requests its evidence) when the capture
shows why, else `agent_not_seen` (info, named under the verdict): the verdict says
nothing of that agent's jobs."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest
from rich.console import Console
from stored import shared_analysis
from test_connections_util import ethernet, ipv4, read_batches, sll, tcp, write_pcap

from flowcheck.config import build_config, load_file
from flowcheck.decode import NON_TCP, TCP, decode_batch
from flowcheck.model import Severity
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis
from flowcheck.sources.batch import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL

STORED = Path(__file__).resolve().parent.parent / "captures" / "lab-trial23"
MEDIA, DOWN, AGENT = "10.77.0.1", "10.77.0.6", "10.77.0.2"


def arp(op: int, sender: str, target: str) -> bytes:
    """An ARP packet's bytes (RFC 826): Ethernet hardware, IPv4 protocol addresses."""
    return (struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + b"\x02\x00\x00\x00\x00\x01"
            + socket.inet_aton(sender) + b"\x00" * 6 + socket.inet_aton(target))


def _analysis(path: Path, **settings: object) -> Analysis:
    config = build_config(settings)
    return analyze(read_traffic([str(path)], config), config)


def _stored(name: str) -> Analysis:
    path = next(STORED.glob(f"{name}.pcap*"))
    # The run's one analysis of the stored case (capture and NAME.toml), read only.
    return shared_analysis(path)


def _codes(analysis: Analysis) -> list[str]:
    return [f.code for f in analysis.findings]


# -- the decoder sees ARP ------------------------------------------------------------


def test_the_decoder_lists_arp_packets_beside_tcp_in_their_batch_positions(
        tmp_path: Path) -> None:
    """ARP among plain TCP (the fast path's batch is split and merged), under a VLAN tag
    too; counted as non-TCP as before."""
    segment = ipv4(MEDIA, AGENT, 6, tcp(5001, 10000, 1, 0, 0x02))
    path = write_pcap(tmp_path / "mixed.pcap", LINKTYPE_ETHERNET, [
        ethernet(segment), ethernet(arp(1, MEDIA, DOWN), 0x0806), ethernet(segment),
        ethernet(arp(2, AGENT, MEDIA), 0x0806, vlans=(0x8100,)), ethernet(segment)])
    [batch] = read_batches(path)
    decoded = decode_batch(batch)
    assert decoded.kind.tolist() == [TCP, NON_TCP, TCP, NON_TCP, TCP]
    assert decoded.arp.position.tolist() == [1, 3]
    assert decoded.arp.op.tolist() == [1, 2]
    as_ip = [socket.inet_ntoa(struct.pack("!I", v)) for v in decoded.arp.sender.tolist()]
    assert as_ip == [MEDIA, AGENT]
    assert socket.inet_ntoa(struct.pack("!I", int(decoded.arp.target[0]))) == DOWN


def test_the_decoder_reads_arp_in_a_linux_cooked_capture(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "sll.pcap", LINKTYPE_LINUX_SLL,
                      [sll(arp(1, MEDIA, DOWN), 0x0806)])
    decoded = decode_batch(next(read_batches(path)))
    assert decoded.arp.position.tolist() == [0]


def test_a_cut_or_foreign_arp_packet_is_left_out(tmp_path: Path) -> None:
    foreign = struct.pack("!HHBBH", 6, 0x0800, 6, 4, 1) + b"\x00" * 20  # not Ethernet
    path = write_pcap(tmp_path / "cut.pcap", LINKTYPE_ETHERNET,
                      [(ethernet(arp(1, MEDIA, DOWN), 0x0806, pad=False), 14 + 20),
                       ethernet(foreign, 0x0806)])
    assert len(decode_batch(next(read_batches(path))).arp) == 0


# -- the trial's capture -------------------------------------------------------------


def test_an_agent_down_on_the_lan_is_an_error_with_its_arp_requests() -> None:
    """agent-down-arp-media: it read PASS, 0 warnings, nothing about 10.77.0.6."""
    analysis = _stored("agent-down-arp-media")
    assert analysis.verdict == "fail"
    [down] = [f for f in analysis.findings if f.code == "agent_unreachable"]
    assert down.severity == Severity.ERROR and down.session is None
    assert down.frames == [1, 2, 3]
    assert "10.77.0.6" in down.message and "3 ARP requests" in down.message
    assert "the media server 10.77.0.1" in down.message
    assert "down or not on this network" in down.message
    assert "ping it from 10.77.0.1" in down.fix
    # The good job is untouched.
    [session] = analysis.sessions
    assert all(step.status == "ok" for step in session.steps)
    assert "agent_not_seen" not in _codes(analysis)


def test_the_summary_gives_the_cause_and_fix_of_an_error_outside_any_session() -> None:
    console = Console(width=100, record=True, color_system=None)
    render_analysis(_stored("agent-down-arp-media"), console, ladder=None)
    text = " ".join(console.export_text().split())
    head = text[:text.index("Session S1:")]
    assert head.startswith("FAIL ")
    assert "errors outside any session: agent_unreachable" in head
    assert "cause: the configured agent 10.77.0.6 (--remote-agent) is down or not on this " \
           "network: it never answered the media server 10.77.0.1's 3 ARP requests" in head
    assert "fix: check that 10.77.0.6 is up" in head
    assert ("(see agent_unreachable under Findings and in "
            "'flowcheck docs findings agent_unreachable')") in head
    # Relative times before the first connection read -N s, not +-N s.
    assert "at -3.456s = " in text and "+-" not in text


def test_arp_requests_alone_are_the_error_without_no_control_session() -> None:
    analysis = _stored("agent-down-arp-only-media")
    assert _codes(analysis) == ["agent_unreachable"]
    assert analysis.verdict == "fail"
    console = Console(width=100, record=True, color_system=None)
    render_analysis(analysis, console, ladder=None)
    assert "at 2026-12-02T12:17:09.966Z" in console.export_text()  # no +N s: no connection


# -- evidence -------------------------------------------------------------------------


def _arp_capture(tmp_path: Path, packets: list[tuple[float, bytes]]) -> Path:
    return write_pcap(tmp_path / "arp.pcap", LINKTYPE_ETHERNET,
                      [ethernet(data, 0x0806) for _, data in packets],
                      times=[ts for ts, _ in packets])


def test_one_request_at_the_end_of_the_capture_is_no_evidence(tmp_path: Path) -> None:
    """As for a SYN: one request, and the capture stopped before an answer was due."""
    path = _arp_capture(tmp_path, [(0.0, arp(1, MEDIA, DOWN))])
    analysis = _analysis(path, media_servers=[MEDIA], remote_agents=[DOWN])
    assert "agent_unreachable" not in _codes(analysis)
    assert analysis.verdict == "inconclusive"  # no_control_session, a warning: no TCP


def test_one_request_with_time_after_it_is_evidence(tmp_path: Path) -> None:
    path = _arp_capture(tmp_path, [(0.0, arp(1, MEDIA, DOWN)), (4.0, arp(1, MEDIA, AGENT))])
    analysis = _analysis(path, media_servers=[MEDIA], remote_agents=[DOWN])
    assert "agent_unreachable" in _codes(analysis)


def test_an_answered_request_is_no_evidence(tmp_path: Path) -> None:
    path = _arp_capture(tmp_path, [(0.0, arp(1, MEDIA, DOWN)), (1.0, arp(1, MEDIA, DOWN)),
                                   (1.001, arp(2, DOWN, MEDIA))])
    analysis = _analysis(path, media_servers=[MEDIA], remote_agents=[DOWN])
    assert "agent_unreachable" not in _codes(analysis)


@pytest.mark.parametrize("sender", ["0.0.0.0", DOWN])
def test_a_probe_or_an_announcement_asks_for_no_neighbour(tmp_path: Path,
                                                          sender: str) -> None:
    """RFC 5227: a probe (sender 0.0.0.0) and a gratuitous request (sender = target)."""
    path = _arp_capture(tmp_path, [(0.0, arp(1, sender, DOWN)), (1.0, arp(1, sender, DOWN)),
                                   (5.0, arp(1, MEDIA, AGENT))])
    analysis = _analysis(path, media_servers=[MEDIA], remote_agents=[DOWN])
    assert "agent_unreachable" not in _codes(analysis)


def test_requests_of_a_host_that_is_not_the_media_server_are_a_note_only(
        tmp_path: Path) -> None:
    """A router's requests say the host is down, not that a job to it was tried: the
    info finding names them."""
    lab = Path(__file__).resolve().parent.parent / "captures" / "lab"
    config = build_config({**load_file(lab / "clean-3-resources.toml"),
                           "media_servers": [MEDIA], "remote_agents": [AGENT, DOWN]})
    router = _arp_capture(tmp_path, [(0.0, arp(1, "10.77.0.254", DOWN)),
                                     (1.0, arp(1, "10.77.0.254", DOWN))])
    analysis = analyze(read_traffic([str(lab / "clean-3-resources.pcap"), str(router)],
                                    config), config)
    assert "agent_unreachable" not in _codes(analysis)
    [note] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert "10.77.0.254's 2 ARP requests for 10.77.0.6" in note.message


# -- no ARP: the agent is only absent ---------------------------------------------------


def test_an_agent_with_no_session_is_named_under_the_verdict() -> None:
    """The clean lab job with a second configured agent the capture never shows: the
    verdict stays pass, an info finding and a line under it say nothing of that agent
    was judged."""
    lab = Path(__file__).resolve().parent.parent / "captures" / "lab"
    config = build_config({**load_file(lab / "clean-3-resources.toml"),
                           "remote_agents": [AGENT, "10.77.0.7", "10.77.0.8"]})
    analysis = analyze(read_traffic([str(lab / "clean-3-resources.pcap")], config), config)
    assert analysis.verdict == "pass"
    [note] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert note.severity == Severity.INFO
    assert note.message.startswith("No control connection to the configured agents "
                                   "10.77.0.7 and 10.77.0.8 (--remote-agent) in the capture")
    assert "10.77.0.7 or 10.77.0.8 ran" in note.fix
    console = Console(width=200, record=True, color_system=None)
    render_analysis(analysis, console, ladder=None)
    lines = console.export_text().splitlines()
    assert lines[0].startswith("PASS ")
    assert lines[1].startswith("  note: No control connection to the configured agents "
                               "10.77.0.7 and 10.77.0.8")
    assert lines[2] == " " * 8 + "(agent_not_seen)"  # wrapped under the note, no trailing
    assert all(line == line.rstrip() for line in lines[:3])


def test_every_configured_agent_seen_gives_no_note() -> None:
    lab = Path(__file__).resolve().parent.parent / "captures" / "lab"
    config = build_config(load_file(lab / "clean-3-resources.toml"))
    analysis = analyze(read_traffic([str(lab / "clean-3-resources.pcap")], config), config)
    assert not {"agent_not_seen", "agent_unreachable"} & set(_codes(analysis))


def test_an_unlisted_agent_of_a_session_may_be_the_configured_one_under_nat() -> None:
    """A NAT shows the agent 10.77.1.2 as 10.77.0.254: the note says its job may be
    session S1's rather than that it never reached the network."""
    folder = STORED.parent / "ndmjob-nat"
    config = build_config(load_file(folder / "nat-dnat-snat-ports-media.toml"))
    analysis = analyze(read_traffic([str(folder / "nat-dnat-snat-ports-media.pcap")], config),
                       config)
    [note] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert "configured agent 10.77.1.2" in note.message
    assert "10.77.0.254 (session S1), which the configuration does not list" in note.message


def _trial31(name: str) -> Analysis:
    folder = STORED.parent / "trial31-dnat"
    path = next(folder.glob(f"{name}.pcap*"))
    config = build_config(load_file(folder / f"{name}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _top_lines(analysis: Analysis) -> list[str]:
    """The verdict and the lines under it, up to the sessions' count."""
    console = Console(width=200, record=True, color_system=None)
    render_analysis(analysis, console, ladder=None)
    lines = console.export_text().splitlines()
    return lines[:next(i for i, line in enumerate(lines) if line.startswith("sessions:"))]


def test_an_agent_reached_through_a_nat_is_no_agent_not_seen() -> None:
    """Trial 31 D4: DNAT publishes the agent 10.77.1.2 as 10.77.0.254; its data
    connection comes from 10.77.1.2, so host_not_configured reads 10.77.0.254 as most
    likely that agent. The note said no job with 10.77.1.2 was judged: it is judged, in
    session S1, and the note is gone."""
    analysis = _trial31("dnat-good-media")
    assert analysis.verdict == "pass"
    [hosts] = [f for f in analysis.findings if f.code == "host_not_configured"]
    assert "10.77.0.254 is most likely another address of the configured remote agent " \
        "10.77.1.2" in hosts.message
    assert analysis.sessions[0].likely_configured == {"agent": "10.77.1.2"}
    assert "agent_not_seen" not in _codes(analysis)
    assert not any("note:" in line for line in _top_lines(analysis))


def test_an_unlisted_agent_the_capture_cannot_tie_is_named_in_the_note() -> None:
    """Trial 31 D4: only the control connection to the NAT's address is in the capture
    (the data connection refused toward the agent): host_not_configured says the address
    may be translated, and the note's first sentence no longer says flatly that no job
    with the configured agent is judged."""
    analysis = _trial31("dnat-data-rst-media")
    [note] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert note.message.startswith(
        "No control connection to the configured agent 10.77.1.2 (--remote-agent) in the "
        "capture: unless it is session S1's agent 10.77.0.254 under another address (a "
        "NAT), no job with it is judged here.")
    assert "says nothing of its jobs" not in note.message
    [top] = [line for line in _top_lines(analysis) if "note:" in line]
    assert "unless it is session S1's agent 10.77.0.254" in top


def test_only_the_configured_agents_arp_is_kept() -> None:
    """The tracker keeps the ARP requests for the configured agents only: without any,
    nothing (an ARP storm costs a few numpy operations per batch, no Python per packet)."""
    path = STORED / "agent-down-arp-media.pcap.gz"
    bare = read_traffic([str(path)], build_config({}))
    assert not bare.arp.asked and not bare.arp.heard
    watched = read_traffic([str(path)], build_config({"remote_agents": [DOWN, AGENT]}))
    assert list(watched.arp.asked) == [(MEDIA, DOWN)]
    assert watched.arp.asked[(MEDIA, DOWN)].count == 3
