"""Backup Exec's own words only with a Backup Exec profile (trial 15 D10).

captures/ndmjob-firewall/v4-media-reject-rst-media (profile ndmp, Amanda's ndmjob): the
media server's firewall rejects the agent's data SYN with a TCP reset. Before, its
data_refused said "Backup Exec then skips the resource and the job fails with
"Communication Failure has occurred between the Job Engine and Remote Agent"". The
backup-exec-9 profile keeps those words (captures/lab data-port-in-use).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.profiles import load_profile

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
BACKUP_EXEC = ("Backup Exec", "Job Engine")


def _analyze(relative: str) -> Analysis:
    path = CAPTURES / relative
    stem = path.name.removesuffix(".gz").removesuffix(".pcap")
    own = path.parent / f"{stem}.toml"
    config = build_config(load_file(own if own.exists() else path.parent / "flowcheck.toml"))
    return analyze(read_traffic([str(path)], config), config)


def test_data_refused_in_ndmp_terms_with_the_ndmp_profile() -> None:
    """The media server's nft `reject with tcp reset`: a RST 0.2 ms after DATA_CONNECT
    (frame 11) announced the mover's endpoint. Before (newuser61 6): "the listener could
    not bind the port because it was already in use", though the announcement shows it
    had bound it, a fix to free the port, and "Also" ending "remove or narrow that drop"
    for a reject."""
    analysis = _analyze("ndmjob-firewall/v4-media-reject-rst-media.pcap.gz")
    [refused] = [f for f in analysis.findings if f.code == "data_refused"]
    assert "either nothing listened there any more (its listener had bound the port: " \
           "DATA_CONNECT (frame 11) announced it 0.201 ms before the SYN; it had stopped or " \
           "closed it), or a firewall rejects it with a RST (nft's `reject with tcp reset`" \
           in refused.message
    fix = refused.fix
    for words in ("could not bind", "in use", "holds TCP port", "that drop"):
        assert words not in refused.message + fix, words
    assert fix.startswith("If a firewall rejects it: allow TCP from 10.77.1.2 to 10.77.0.1 "
                          "ports 5000-5999"), fix
    assert "read its log (the NDMP server's, or the DMA's for a mover resident in it) around " \
           "the announcement (frame 11)" in fix
    assert fix.endswith("(`nft list ruleset` shows them all): remove or narrow that reject."), fix
    for finding in analysis.findings:
        assert not any(w in finding.message + finding.fix for w in BACKUP_EXEC), finding


def test_announced_not_used_fix_in_ndmp_terms_with_the_ndmp_profile() -> None:
    analysis = _analyze("ndmjob-night12/agentdrop-late-rst-media.pcap")
    [unused] = [f for f in analysis.findings if f.code == "announced_not_used"]
    assert "look for the connect error in the agent's and the backup application's logs" \
        in unused.fix
    assert not any(w in unused.message + unused.fix for w in BACKUP_EXEC)


def test_backup_exec_profile_keeps_its_words() -> None:
    analysis = _analyze("lab/data-port-in-use.pcap")
    [refused] = [f for f in analysis.findings if f.code == "data_refused"]
    assert "Backup Exec then skips the resource and the job fails with \"Communication " \
           "Failure has occurred between the Job Engine and Remote Agent\"" in refused.message


def test_which_profiles_are_backup_exec() -> None:
    assert load_profile("backup-exec-9").backup_exec
    assert not load_profile("ndmp").backup_exec


def test_control_refused_names_the_ndmp_service_in_the_profiles_words() -> None:
    """Trial 17 D10: ndmjob's daemon was called "the Remote Agent service"."""
    [ndmp] = [f for f in _analyze("ndmjob-lab/v4-control-refused.pcap").findings
              if f.code == "control_refused"]
    assert "Start the NDMP service on 10.77.0.2" in ndmp.fix and "Remote Agent" not in ndmp.fix
    [backup_exec] = [f for f in _analyze("lab/control-refused.pcap").findings
                     if f.code == "control_refused"]
    assert "Start the Remote Agent service on" in backup_exec.fix


def test_port_outside_the_range_fix_says_the_range_flag_changes_only_the_check() -> None:
    """Trial 17 D10: "or set --agent-range to what the firewall opens" read as a fix of
    the job; it changes only flowcheck's check."""
    [outside] = [f for f in _analyze("ndmjob/v4-agent-out-of-range.pcap").findings
                 if f.code == "port_outside_agent_range"]
    assert outside.fix.startswith("Make the agent bind its dynamic ports in")
    assert "give flowcheck that range (--agent-range; it changes only this check)" \
        in outside.fix
