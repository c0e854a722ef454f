"""A three-way job seen from one of its agents (new-user trial 27, D1, D7, D8).

ndmjob -D A -T T, the DMA on M: a capture on the data agent A holds the DMA-A control
connection (DATA_CONNECT naming T's mover) and A's data connection to T, not the DMA-T
control connection. T's address in DATA_CONNECT was read as "the media server announces
another interface" (announced_address_mismatch, "opening firewall ports does not help"),
though T is a configured remote agent whose firewall dropped the SYNs; the words called
T "the media server (mover)" at A and at T. At the DMA, the fix's `flowcheck firewall`
command printed no rule from A to T.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from stored import shared_analysis

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

STORED = Path(__file__).resolve().parent.parent / "captures" / "trial27-three-way"
A, T = "10.77.0.2", "10.77.0.3"


def _analyze(name: str, *overrides: str) -> Analysis:
    if not overrides:  # the stored case as stored: the run's one analysis, read only
        return shared_analysis(STORED / f"{name}.pcap.gz")
    values = load_file(STORED / f"{name}.toml")
    for key in overrides:  # no hosts configured: the roles come from the traffic
        values.pop(key, None)
    config = build_config(values)
    return analyze(read_traffic([str(STORED / f"{name}.pcap.gz")], config), config)


def _errors(analysis: Analysis) -> list:
    return [f for f in analysis.findings if f.severity.value == "error"]


def test_a_tape_agents_firewall_drop_seen_at_the_data_agent_is_data_unanswered() -> None:
    """D1: T is a configured remote agent: its mover's address is right, the rule inbound
    on T is the fix (not "the announced address is the fault")."""
    analysis = _analyze("3w-ddrop2-a")
    (error,) = _errors(analysis)
    assert error.code == "data_unanswered"
    assert f"inbound on {T}" in error.fix
    assert "does not help" not in error.fix


def test_the_tape_agent_is_named_so_at_the_data_agent() -> None:
    """D8: step 2 names the tape agent's mover, not the media server's."""
    (session,) = _analyze("3w-ddrop2-a").sessions
    assert f"the mover on {T} (tape agent) listening" in session.steps[1].detail
    assert "media server (mover)" not in session.steps[1].detail


def test_an_unconfigured_announced_host_keeps_the_firewall_reading() -> None:
    """D1 with no hosts configured: T may be another interface of the DMA or a tape agent;
    the finding says both and does not rule the firewall rule out."""
    analysis = _analyze("3w-ddrop2-a", "media_servers", "remote_agents")
    (error,) = [f for f in _errors(analysis) if f.code == "announced_address_mismatch"]
    assert "does not help" not in error.fix
    assert f"inbound on {T}" in error.fix
    assert f"--remote-agent {T}" in error.fix
    assert f"--media-server {T}" not in error.fix


def test_the_tape_agent_closing_the_data_connection_is_named_so_at_the_tape_agent() -> None:
    """D8: "the tape agent 10.77.0.3 closed it", "data agent -> tape agent" (they read
    "the media server 10.77.0.3", "agent -> media server")."""
    analysis = _analyze("3w-full-t")
    text = " ".join(f"{f.message} {f.fix}" for f in analysis.findings)
    assert f"the tape agent {T}" in text
    assert f"the media server {T}" not in text
    assert "agent -> media server" not in text


def test_the_fix_at_the_dma_names_a_firewall_command_that_prints_the_agent_rule(
        capsys: pytest.CaptureFixture[str]) -> None:
    """D7: at M, ndmp_no_reply's fix names `flowcheck firewall` with both agents, and
    that command prints the rule from the data agent to the tape agent's mover."""
    (error,) = _errors(_analyze("3w-ddrop2-m"))
    command = re.search(r"`flowcheck firewall ([^`]*)`", error.fix)
    assert command is not None
    argv = command.group(1).split()
    assert f"--remote-agent {A}" in command.group(1)
    assert f"--remote-agent {T}" in command.group(1)
    assert run(["firewall", "--format", "json", "--target", "nft", *argv]) == 0
    rules = json.loads(capsys.readouterr().out)["rules"]["nft"]["remote agent"]
    assert any(f"input ip saddr {{ {A}, {T} }} ip daddr {{ {A}, {T} }}" in line
               for line in rules)


def test_the_dma_dying_mid_backup_fails_at_the_tape_agent() -> None:
    """D4: at T the session has MOVER_LISTEN, no DATA_START_*: the DMA's close while the
    mover was active is control_closed (it passed)."""
    analysis = _analyze("3w-kill-t")
    (error,) = _errors(analysis)
    assert error.code == "control_closed"
    assert "closed by the media server 10.77.0.1" in error.message
    assert "while its mover was active (MOVER_LISTEN, frame 19" in error.message


def test_the_tape_agents_session_dying_is_the_finding_at_the_tape_agent() -> None:
    """D5 at T: T's own FIN then RST on its control connection mid-restore, no halt: the
    tape agent's NDMP service ended (it passed)."""
    (error,) = _errors(_analyze("3w-moverkill-t"))
    assert error.code == "control_closed"
    assert f"closed by the tape agent {T} (FIN, frame 1717)" in error.message
    assert "The tape agent's NDMP service ended the session" in error.message
    assert error.fix.startswith("See the tape agent's NDMP service log")


def test_the_tape_agents_session_dying_is_the_cause_at_the_dma() -> None:
    """D5 at M: S2's close by the tape agent is the error; the DMA's close of S1 after it
    is its consequence, a warning naming S2 (it blamed the DMA's job engine)."""
    analysis = _analyze("3w-moverkill-m")
    (error,) = _errors(analysis)
    assert (error.code, error.session) == ("control_closed", "S2")
    assert f"closed by the tape agent {T}" in error.message
    (after,) = [f for f in analysis.findings if f.code == "control_closed" and f.session == "S1"]
    assert after.severity.value == "warning"
    assert "this close is its consequence" in after.message
    assert "job engine" not in after.fix


def test_a_full_tape_at_the_tape_agent_is_the_halts_media_error() -> None:
    """D6: T closed and reset the data connection because its tape filled, then notified
    NOTIFY_MOVER_HALTED MEDIA_ERROR: the halt is the cause, the reset its consequence (it
    read data_reset, "a firewall's reset, service restarted")."""
    (error,) = _errors(_analyze("3w-full-t"))
    assert error.code == "data_halted_abnormally"
    assert "MEDIA_ERROR" in error.message
    assert "closed the data connection 10.77.0.2:6037 -> 10.77.0.3:7046 (FIN, frame 889)" \
        in error.message
    assert "the halt's consequence" in error.message
    assert f"storage device of the tape agent {T}" in error.fix
    assert "firewall" not in error.fix
    assert error.frames == [889, 891, 903]


def test_an_unconfigured_mover_host_is_not_called_the_media_server() -> None:
    """D8 with no hosts configured: step 2 says the mover's host is not the media server's
    address and gives both readings (it said "the media server (mover)")."""
    (session,) = _analyze("3w-ddrop2-a", "media_servers", "remote_agents").sessions
    detail = session.steps[1].detail
    assert "media server (mover)" not in detail
    assert (f"the mover on {T} (not the media server's 10.77.0.1: its other interface, or "
            "the tape agent of a three-way job) listening") in detail


def _analyze_set(*names: str) -> Analysis:
    config = build_config(load_file(STORED / f"{names[0]}.toml"))
    files = [str(STORED / f"{name}.pcap.gz") for name in names]
    return analyze(read_traffic(files, config), config)


def test_a_full_tape_captured_everywhere_is_the_halt_and_its_consequences() -> None:
    """D6 with M, A and T merged: the data connection belongs to A's session and the halt
    is on T's: still the halt, no data_reset; the DMA's close of A's session 40 s later
    is a warning, its consequence (it was data_reset plus the halt)."""
    analysis = _analyze_set("3w-full-m", "3w-full-a", "3w-full-t")
    (error,) = _errors(analysis)
    assert (error.code, error.session) == ("data_halted_abnormally", "S2")
    assert "the halt's consequence" in error.message
    assert not [f for f in analysis.findings if f.code == "data_reset"]
    (closed,) = [f for f in analysis.findings if f.code == "control_closed"]
    assert (closed.session, closed.severity.value) == ("S1", "warning")
    assert "halted with reason MEDIA_ERROR (session S2" in closed.message
    assert closed.fix == "See session S2's data_halted_abnormally."


def test_a_full_tape_at_the_dma_does_not_blame_the_job_engine() -> None:
    """D6 at M: the halt is the error; the DMA's later close of S1 is its consequence."""
    analysis = _analyze("3w-full-m")
    assert [(f.code, f.session) for f in _errors(analysis)] == [("data_halted_abnormally", "S2")]


def test_the_other_agent_not_seen_is_named_as_the_three_way_jobs() -> None:
    """At A, agent_not_seen for T says it is S1's tape agent, whose control connection
    does not pass A (it said the job "never reached the network at this capture point")."""
    (note,) = [f for f in _analyze("3w-ddrop2-a").findings if f.code == "agent_not_seen"]
    assert f"{T} is the tape agent of session S1's three-way job" in note.message
    assert "never reached the network" not in note.fix
