"""Step 5's byte count and the data_stalled words on captures that lack packets: stored
jobs cut at test time to one direction (tcpdump 'src host H', as a SPAN port that sees
one way or `tcpdump -Q out` would hold them) or with one data segment removed (editcap,
as a sniffer that missed it).

- ndmjob-firewall/v4-midjob-data-drop-at-media (the media server's nftables drop the
  agent's data mid-job) cut to the media server's packets read "never carried data"
  (0 B) and "check that the agent is up", though its ACKs acknowledge the agent's
  699,568 B and the agent's FIN on the control connection reached it after the stall.
- A data segment the sniffer missed (its receiver acknowledged it) was left out of the
  count with no word of it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import tshark_fork
from stored import case_config, errors, stored_analysis

from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
FIREWALL = CAPTURES / "ndmjob-firewall"
MEDIA, AGENT = "10.77.0.1", "10.77.0.2"


def _words(text: str) -> str:
    return " ".join(text.split())


def _from_host(tmp_path: Path, capture: Path, host: str) -> Path:
    """`capture` cut to the packets `host` sent (tcpdump 'src host HOST')."""
    out = tmp_path / f"{capture.stem}-from-{host}.pcap"
    subprocess.run(["tcpdump", "-r", str(capture), "-w", str(out), f"src host {host}"],
                   check=True, capture_output=True)
    return out


def _without_data_segment(tmp_path: Path, capture: Path, host: str, after: int) -> Path:
    """`capture` without the first data segment `host` sent after frame `after`
    (editcap, frame numbers 1-based), found with tshark."""
    found = [frame for (frame,) in tshark_fork.fields(
        capture, f"ip.src=={host} && tcp.len>0 && frame.number>{after}", "frame.number")]
    out = tmp_path / f"{capture.stem}-without-{found[0]}.pcap"
    subprocess.run(["editcap", str(capture), str(out), found[0]], check=True,
                   capture_output=True)
    return out


def _highest_ack(capture: Path, host: str, port: int) -> int:
    """The highest relative ACK number `host` sent from `port` (tshark)."""
    acks = tshark_fork.fields(capture, f"ip.src=={host} && tcp.srcport=={port}", "tcp.ack")
    return max(int(ack) for (ack,) in acks)


def _data_step(analysis: Analysis) -> str:
    [session] = analysis.sessions
    [step] = [s for s in session.steps if s.step == len(session.steps)]
    return _words(step.detail)


def _stalled(analysis: Analysis) -> tuple[str, str]:
    [stalled] = [f for f in errors(analysis) if f.code == "data_stalled"]
    return _words(stalled.message), _words(stalled.fix)


def test_the_media_servers_side_of_a_stall_counts_what_its_acks_acknowledge(
        tmp_path: Path) -> None:
    """The media server's packets only: its ACKs acknowledge the agent's bytes until the
    stall (the full capture's last ACK); step 4 failed says so, not 0 B or "never carried
    data", and, the agent's FIN on the control connection having reached the media server
    after the stall, the fix looks for what blocks this flow (the data receiver's host
    firewall first), not at whether the agent is up."""
    name = "v4-midjob-data-drop-at-media"
    acked = _highest_ack(FIREWALL / f"{name}.pcap", MEDIA, 5050) - 1  # no FIN of the agent's
    analysis = stored_analysis(_from_host(tmp_path, FIREWALL / f"{name}.pcap", MEDIA),
                               config_path=case_config(FIREWALL, name))
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    assert session.steps[-1].status == "failed"
    detail = _data_step(analysis)
    assert "never carried data" not in detail
    assert f"the media server's ACKs acknowledge {acked:,} B of it" in detail
    assert "the data flowed" not in detail
    message, fix = _stalled(analysis)
    assert f"{MEDIA}'s ACKs acknowledge {acked:,} B of the agent {AGENT}'s data" in message
    assert "never carried data" not in message
    assert f"The agent {AGENT} was still up and reachable after the data stopped" in message
    assert fix.startswith("See the session and event logs of the firewalls")
    assert (f"the host firewall and security software on {MEDIA} (a rule or IPS that drops "
            f"{AGENT}'s packets to port 5050) and on {AGENT}") in fix
    assert "Check that the agent" not in fix


def test_the_agents_side_of_the_same_stall_names_the_media_server_reachable(
        tmp_path: Path) -> None:
    """The agent's packets only: its resends, and its FIN on the control connection that
    acknowledges the media server's (which came first, after the stall): the media server
    was up, so the fix looks for what blocks this flow, not whether it is up, and reads
    as from the media server's side (the same stall)."""
    name = "v4-midjob-data-drop-at-media"
    analysis = stored_analysis(_from_host(tmp_path, FIREWALL / f"{name}.pcap", AGENT),
                               config_path=case_config(FIREWALL, name))
    assert analysis.verdict == "fail"
    message, fix = _stalled(analysis)
    assert f"its FIN on the control connection reached {AGENT}" in message
    assert f"by a host firewall or IPS on {MEDIA} that drops {AGENT}'s packets" in message
    assert fix.startswith("See the session and event logs of the firewalls")
    assert (f"the host firewall and security software on {MEDIA} (a rule or IPS that drops "
            f"{AGENT}'s packets to port 5050) and on {AGENT}") in fix
    assert "Check that the media server" not in fix


def test_acks_lost_at_the_agent_seen_from_the_media_server_say_either_way(
        tmp_path: Path) -> None:
    """v4-midjob-established-drop-at-agent (the agent's firewall drops the media server's
    ACKs) cut to the media server's packets: its ACKs stop advancing as they do when the
    agent's packets stop arriving, so the words say both, and count the bytes acked."""
    name = "v4-midjob-established-drop-at-agent"
    analysis = stored_analysis(_from_host(tmp_path, FIREWALL / f"{name}.pcap", MEDIA),
                               config_path=case_config(FIREWALL, name))
    assert analysis.verdict == "fail"
    detail = _data_step(analysis)
    assert "never carried data" not in detail
    assert re.search(r"the media server's ACKs acknowledge \d{1,3}(,\d{3})+ B of it", detail)
    message, _ = _stalled(analysis)
    assert (f"Whether {AGENT}'s packets stopped arriving or {MEDIA}'s ACKs stopped reaching "
            f"{AGENT} cannot be seen") in message


def test_a_data_segment_the_sniffer_missed_is_counted_as_acknowledged(tmp_path: Path) -> None:
    """ndmjob/v4-backup without one of the agent's data segments: step 5 adds the bytes
    the media server acknowledged, and their sum is the whole capture's count."""
    folder = CAPTURES / "ndmjob"
    full = stored_analysis(folder / "v4-backup.pcap", config_path=case_config(folder, "v4-backup"))
    whole = int(re.search(r"([\d,]+) B agent -> media server", _data_step(full))[1]
                .replace(",", ""))
    cut = _without_data_segment(tmp_path, folder / "v4-backup.pcap", AGENT, 200)
    analysis = stored_analysis(cut, config_path=case_config(folder, "v4-backup"))
    assert analysis.verdict == "pass"
    detail = _data_step(analysis)
    seen = int(re.search(r"([\d,]+) B agent -> media server", detail)[1].replace(",", ""))
    assert seen < whole
    assert (f"and {whole - seen:,} B more that the capture lacks and the media server "
            "acknowledged (segments the sniffer missed: capture_loss; "
            f"{whole:,} B in all, each byte once)") in detail


def test_a_missed_segment_of_a_stalled_job_seen_from_its_sender(tmp_path: Path) -> None:
    """The stalled job without an early data segment of the agent's, cut to the agent's
    packets: no ACK in the capture, the agent never resent it: counted, and said so."""
    name = "v4-midjob-data-drop-at-media"
    cut = _without_data_segment(tmp_path, FIREWALL / f"{name}.pcap", AGENT, 50)
    analysis = stored_analysis(_from_host(tmp_path, cut, AGENT),
                               config_path=case_config(FIREWALL, name))
    assert analysis.verdict == "fail"
    detail = _data_step(analysis)
    assert re.search(r"and [\d,]+ B more that the capture lacks and the agent never resent "
                     r"\(segments the sniffer or the network lost: capture_loss; the media "
                     r"server's ACKs are not in the capture\)", detail)
