"""Real ndmjob jobs through nftables rules (captures/ndmjob-firewall, a new user's lab):
the findings' words, beyond the codes their expected results pin.

- an ICMP "administratively prohibited" reject (code 13) from the refusing host's own
  address is its firewall's: the message and fix name that firewall, not a router's
  filter, a port in use or a stopped agent;
- a firewall's RSTs in the middle of a transfer, the mover's FIN 23 s later: data_reset,
  not a pass of step 5 with the DMA's close blamed;
- NDMP v2: the DATA_START_BACKUP error after the refused data connection is the
  refusal's consequence, and the DMA's repeated DATA_ABORT errors are one warning.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import shared_analysis

from flowcheck.model import Finding
from flowcheck.pipeline import Analysis

FOLDER = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-firewall"


def _analysis(name: str) -> Analysis:
    # The run's one analysis of the stored case (capture and NAME.toml), read only.
    return shared_analysis(FOLDER / f"{name}.pcap")


def _errors(name: str) -> list[Finding]:
    return [f for f in _analysis(name).findings if str(f.severity) == "error"]


@pytest.mark.parametrize(("name", "code", "host"),
                         [("v4-media-reject-adminprohib", "data_refused", "10.77.0.1"),
                          ("v3-control-reject-icmp", "control_refused", "10.77.0.2")])
def test_an_administratively_prohibited_reject_names_a_firewall(name: str, code: str,
                                                                host: str) -> None:
    """The reject's source is the refusing host itself (a router's filter answers from
    its own address): that host's firewall, the allow rule before its reject rule (lab
    matrix seed 118 run 24 read "a firewall or router filter rejects it", fix "(the
    firewall or filter that sent the reject)"), or a bridge firewall in front of it,
    which answers from that address too: these Ethernet captures hold no Linux cooked
    marks that show the reject leaving the host (review 51b, verify.own_reject)."""
    [error] = _errors(name)
    assert error.code == code
    assert ('unreachable "communication administratively prohibited by filtering" '
            '(code 13)') in error.message
    assert (f"a firewall on {host}, or a bridge (transparent) firewall in front of {host} "
            f"answering in its name, rejects it (the reject comes from {host}'s own address"
            in error.message), error.message
    assert "nothing in the capture tells them apart" in error.message, error.message
    assert "router filter rejects" not in error.message
    assert "already in use" not in error.message and "no agent listening" not in error.message
    assert error.fix.startswith("Allow TCP") and "Start the Remote Agent" not in error.fix
    assert (f"the reject rule is in {host}'s firewall or in a bridge (transparent) firewall "
            f"in front of {host} that answers in its name" in error.fix), error.fix


def test_a_port_unreachable_is_the_responders_firewall_not_a_port_in_use() -> None:
    """Trial 20 D1: a closed TCP port answers a SYN with a RST (RFC 9293); an ICMP port
    unreachable to a TCP SYN comes only from a reject rule (iptables' REJECT default,
    nft's reject). Before: "an ICMP unreachable: either nothing listens there ... or a
    firewall rejects it", fix "If the port was in use: free it ..."."""
    [error] = _errors("v2-media-reject-icmp")
    assert error.code == "data_refused"
    assert "answered the SYN with an ICMP port unreachable (code 3): a firewall on " \
           "10.77.0.1, or a bridge (transparent) firewall in front of 10.77.0.1 answering " \
           "in its name, rejects it" in error.message, error.message
    assert "already in use" not in error.message and "either" not in error.message
    assert error.fix.startswith("Allow TCP from 10.77.0.2 to 10.77.0.1"), error.fix
    assert "10.77.0.1's firewall" in error.fix and "free it" not in error.fix
    [step] = [s for s in _analysis("v2-media-reject-icmp").sessions[0].steps
              if s.status == "failed"]
    assert "ICMP port unreachable (code 3)" in step.detail, step.detail


@pytest.mark.parametrize("name", ["v4-media-reject-adminprohib", "v3-control-reject-icmp"])
def test_no_finding_says_a_closed_port_sends_a_port_unreachable(name: str) -> None:
    """Trial 20 D1: "(a closed port answers with a RST or a port unreachable)" was false."""
    assert not any("or a port unreachable" in f.message for f in _errors(name))


def test_a_firewall_reset_mid_transfer_is_data_reset() -> None:
    [error] = _errors("v3-midjob-data-reject-rst-at-media")
    assert error.code == "data_reset"
    assert "after carrying 755,376 B agent -> media server" in error.message
    steps = _analysis("v3-midjob-data-reject-rst-at-media").sessions[0].steps
    assert steps[-1].status == "failed"


def test_reset_by_both_ends_cites_a_rst_of_each_end() -> None:
    """Trial 20 D12: 33 RSTs from the media server (the first frame 901), then the agent's
    (the first frame 969): "reset by both ends" cites one of each, not 901 and 903."""
    [error] = _errors("v3-midjob-data-reject-rst-at-media")
    assert "reset by both ends (RSTs, frames 901 (10.77.0.1), 969 (10.77.0.2))" \
        in error.message, error.message
    assert {901, 969} <= set(error.frames) and 903 not in error.frames
    step = _analysis("v3-midjob-data-reject-rst-at-media").sessions[0].steps[-1]
    assert "frames 901 (10.77.0.1), 969 (10.77.0.2)" in step.detail
    assert {901, 969} <= set(step.frames) and 903 not in step.frames


def test_v2_start_error_after_a_refused_connection_is_no_error_of_its_own() -> None:
    findings = _analysis("v2-media-reject-icmp").findings
    replies = [f for f in findings if f.code == "ndmp_error_reply"]
    assert all(str(f.severity) == "warning" for f in replies)
    assert not any("DATA_START_BACKUP" in f.message for f in replies)
    [aborts] = [f for f in replies if f.message.startswith("DATA_ABORT")]
    assert "(7 times, frames 33, 39" in aborts.message and len(aborts.frames) == 7


def test_a_restore_that_never_started_is_not_called_a_backup_in_the_text() -> None:
    """Trial 10 D9: a restore whose data SYNs were dropped before DATA_START_RECOVER, with
    no mover mode on the wire: JSON kind stays the documented default (backup), the text
    says backup or restore; a session whose stream or bytes tell keeps its kind."""
    from rich.console import Console

    from flowcheck.report.analyze import render_analysis

    analysis = _analysis("v4-restore-data-syn-drop-at-media")
    [session] = analysis.sessions
    assert session.kind == "backup" and session.kind_guessed
    assert session.as_dict()["kind"] == "backup" and "kind_guessed" not in session.as_dict()
    console = Console(record=True, width=200, color_system=None)
    render_analysis(analysis, console)
    text = console.export_text()
    # Why, as the capture shows it (verify.kind_guess): the job stopped at its data
    # connection, before its DATA_START_*, and DATA_CONNECT names no direction.
    assert ("Session S1: backup or restore (the job stopped after step 3 failed, before a "
            "DATA_START_BACKUP or DATA_START_RECOVER would tell which; its DATA_CONNECT names "
            "no direction, nor does which end opened the data connection), NDMP v4"
            ) in " ".join(text.split()), text
    started = _analysis("v4-midjob-data-drop-at-media").sessions[0]
    assert started.kind == "backup" and not started.kind_guessed
    assert started.kind_words() == "backup"
