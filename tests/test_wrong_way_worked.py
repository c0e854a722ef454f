"""step_out_of_order's fix for data connections opened by the side the profile expects to
listen, when the capture shows them working (flowcheck.verify.wrong_way).

A new user's `flowcheck analyze captures/ndmjob/v4-backup.pcap` (a good plain NDMP
backup, the default profile backup-exec-9; since new-user trial 54 that reads as plain
NDMP, so these tests give --profile backup-exec-9) led the fix with `--profile ndmp`, then went
on "Until then, for this job: the firewall must allow TCP from 10.77.0.2 to 10.77.0.1
port 5014", the very connection the capture shows established and carrying 2,037,760 B;
with --media-range 5001-5100 it asked to allow that range. A rule for a path the capture
shows working is no fix: it stays only for connections that did not work (reset before
any data), and for the next jobs' ports it is kept, "keep ... allowed", only where a
configured range names them (captures/lab/agent-connects-data, Backup Exec's other
pairing: its agent called back, so the capture is Backup Exec's).
"""

from __future__ import annotations

import functools
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.packet import Packet
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.answer import answer_rows

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
V4 = CAPTURES / "ndmjob" / "v4-backup.pcap"
LAB = CAPTURES / "lab"
AGENT, MEDIA = "10.77.0.2", "10.77.0.1"
RANGES = {"media_range": "5001-5100", "agent_range": "6001-6100"}
LEAD = ("Analyze the capture again with --profile ndmp: its announcements have the media "
        "server's mover listening and the agent connecting (DATA_CONNECT, frame 11), plain "
        "NDMP's direction; the backup-exec-9 profile has the media server connect.")


def _analysis(path: Path, flags: dict[str, object] | None = None,
              file_values: dict[str, object] | None = None) -> Analysis:
    """flowcheck analyze in this process: no configuration file unless file_values,
    `flags` as if given on the command line, --profile backup-exec-9 among them (with no
    profile given, plain NDMP is judged by the ndmp profile: verify.plain_reading)."""
    config = build_config(file_values or {}, {"profile": "backup-exec-9", **(flags or {})})
    return analyze(read_traffic([str(path)], config), config)


def _finding(analysis: Analysis, code: str) -> Finding:
    [found] = [f for f in analysis.findings if f.code == code]
    return found


def test_plain_ndmp_data_connection_that_worked_gets_the_lead_and_no_rule() -> None:
    """v4-backup with no configuration: step_out_of_order's fix is the --profile ndmp
    lead and that the data connection worked, nothing to allow (it said "the firewall
    must allow TCP from 10.77.0.2 to 10.77.0.1 port 5014")."""
    fix = _finding(_analysis(V4), "step_out_of_order").fix
    assert fix == (f"{LEAD} The data connection itself worked (established, 2,037,760 B in "
                   "the capture), so nothing in the firewall needs changing for it."), fix
    assert "allow" not in fix.lower() and "flowcheck firewall" not in fix
    assert "First set" not in fix and "first set" not in fix


def test_with_configured_ranges_no_range_is_asked_for_either() -> None:
    """The same capture with --media-range 5001-5100 --agent-range 6001-6100 (the default
    profile): it asked to allow the agent -> media server 5001-5100."""
    analysis = _analysis(V4, RANGES)
    fix = _finding(analysis, "step_out_of_order").fix
    assert fix.startswith(LEAD), fix
    assert "5001-5100" not in fix and "must allow" not in fix, fix
    assert fix.endswith("so nothing in the firewall needs changing for it."), fix


def test_the_callback_fix_keeps_its_rule_under_the_lead() -> None:
    """step_missing's callback fix keeps "If it is backup-exec-9 traffic after all: ...
    allow TCP from the agent to the media range": in Backup Exec's traffic a callback
    that never came is a failure the capture does not show working (no callback SYN in
    it; the data connection to 5014 is no callback). The headline fix stays the lead."""
    for flags in ({}, RANGES):
        analysis = _analysis(V4, flags)
        fix = _finding(analysis, "step_missing").fix
        assert fix.startswith(LEAD + " If it is backup-exec-9 traffic after all: "), fix
        assert f"allow TCP from {AGENT} to {MEDIA} ports " in fix, fix
        [session] = analysis.sessions
        rows = dict(answer_rows(session, analysis.findings))
        assert rows["fix:"].startswith("analyze the capture again with --profile ndmp"), rows
        assert "allow" not in rows["fix:"], rows


@functools.cache
def _v4() -> tuple[Packet, ...]:
    """v4-backup's packets, one copy a process (read_packets copies all 2,163 at each
    call): the tests copy the one packet they change."""
    return tuple(read_packets(V4))


def _reset_before_data(tmp_path: Path) -> Path:
    """v4-backup whose data connection (agent 6015 -> media server 5014) the agent resets
    in place of the ACK that completes the handshake, no byte carried: it did not work."""
    kept, reset = [], False
    for packet in _v4():
        tcp = packet[TCP]
        if 5014 not in (tcp.sport, tcp.dport) or "S" in str(tcp.flags):
            kept.append(packet)
        elif not reset and tcp.sport == 6015:
            packet = packet.copy()
            packet[TCP].flags, packet[TCP].ack = "R", 0
            packet[TCP].remove_payload()
            del packet[IP].len, packet[IP].chksum, packet[TCP].chksum
            kept.append(packet)
            reset = True
    return write_packets(tmp_path / "data-reset.pcap", kept)


def test_a_data_connection_reset_before_data_keeps_the_allow_rule(tmp_path: Path) -> None:
    analysis = _analysis(_reset_before_data(tmp_path))
    assert "data_aborted" in {f.code for f in analysis.findings}
    fix = _finding(analysis, "step_out_of_order").fix
    assert fix.startswith(LEAD + " If it is backup-exec-9 traffic after all: "), fix
    assert (f"the firewall must allow TCP from {AGENT} to {MEDIA} port 5014 (the media port "
            "this job used)") in fix, fix
    assert "flowcheck firewall" in fix and "worked" not in fix


def test_one_direction_counts_the_acknowledged_bytes(tmp_path: Path) -> None:
    """The media server's packets only: the agent's SYN and data are not in the capture,
    the media server's SYN-ACK and ACKs of 2,037,760 B (and the FIN) are: it worked. The
    agent's callback is not in the capture to tell, so the lead is a condition and what
    Backup Exec would need follows it."""
    path = write_packets(tmp_path / "media-only.pcap",
                         [p for p in _v4() if p[IP].src == MEDIA])
    fix = _finding(_analysis(path), "step_out_of_order").fix
    assert fix.startswith("If this is plain NDMP ("), fix
    assert ("the data connection itself worked (established, 2,037,761 B acknowledged by its "
            "receiver, whose ACK numbers count a closing FIN as a byte), so nothing in the "
            "firewall needs changing for it") in fix, fix
    assert "must allow" not in fix


def test_backup_exec_pairing_keeps_the_configured_range_allowed() -> None:
    """agent-connects-data (its agent called back: Backup Exec's) with its configuration:
    the range rule stays for the next jobs' other ports (trial 20 D5 b), as "keep ...
    allowed", after what the capture shows working."""
    analysis = _analysis(LAB / "agent-connects-data.pcap",
                         file_values=load_file(LAB / "agent-connects-data.toml"))
    fix = _finding(analysis, "step_out_of_order").fix
    assert fix == ("If this is not backup-exec-9 traffic, analyze it with the matching "
                   "profile (--profile ndmp for plain NDMP); otherwise the 2 data connections "
                   "themselves worked (established, 400,000 B in the capture), so nothing in "
                   f"the firewall needs changing for them; keep TCP from {AGENT} to {MEDIA} "
                   "ports 5001-5100 (media range) allowed: the next jobs' data connections use "
                   "other ports of it."), fix


def test_backup_exec_pairing_with_default_ranges_asks_for_the_ranges() -> None:
    """Without a configuration no range names the next jobs' ports: the ranges first
    (fix_notes), then that this job's data connections worked, no rule for their ports."""
    fix = _finding(_analysis(LAB / "agent-connects-data.pcap"), "step_out_of_order").fix
    assert fix.startswith("First set --media-range and --agent-range"), fix
    assert fix.endswith("so nothing in the firewall needs changing for them; the next jobs' "
                        "data connections may use other ports than 5002-5003 (the media "
                        "ports this job used)."), fix
    assert "allow" not in fix.lower().replace("allowed", ""), fix


def test_a_data_connection_reset_mid_transfer_is_not_said_to_have_worked(
        tmp_path: Path) -> None:
    """The agent resets the data connection after its first 20 data segments and
    nothing more of it follows: it opened and carried data, but a RST ended it (a device
    between the hosts may have sent it: data_reset says whose), so the fix does not say
    that nothing in the firewall needs changing for it (second read of session 49)."""
    kept, sent, reset = [], 0, False
    for packet in _v4():
        tcp = packet[TCP]
        if 5014 not in (tcp.sport, tcp.dport):
            kept.append(packet)
        elif reset:
            continue
        elif tcp.sport == 6015 and len(tcp.payload) and (sent := sent + 1) > 20:
            packet = packet.copy()
            packet[TCP].flags = "R"
            packet[TCP].remove_payload()
            del packet[IP].len, packet[IP].chksum, packet[TCP].chksum
            kept.append(packet)
            reset = True
        else:
            kept.append(packet)
    assert reset
    analysis = _analysis(write_packets(tmp_path / "data-reset-mid.pcap", kept))
    fix = _finding(analysis, "step_out_of_order").fix
    assert "worked" not in fix and "nothing in the firewall" not in fix, fix
    assert (f"the firewall must allow TCP from {AGENT} to {MEDIA} port 5014 (the media port "
            "this job used)") in fix, fix


def test_the_worked_lead_is_told_by_the_finding_s_data_not_its_fix_s_start() -> None:
    """profile_first reads a fix as step_out_of_order's (wrong_way_fix, then the body)
    by Finding.other_profile "wrong_way", set where the fix is written: the same words
    in a fix of another finding's (other_profile "fix") are not taken apart."""
    from flowcheck.model import Severity
    from flowcheck.verify.context import Context
    from flowcheck.verify.plain_direction import plain_direction, profile_first
    from flowcheck.verify.profile_followed import wrong_way_fix

    analysis = _analysis(V4)
    assert analysis.profile is not None
    ctx = Context(analysis.traffic.connections, analysis.traffic.streams, analysis.sessions,
                  analysis.config, analysis.profile)
    shown = plain_direction(ctx)
    body = ("the data connection itself worked (established, 2,037,760 B in the capture), "
            "so nothing in the firewall needs changing for it.")
    fix = f"{wrong_way_fix('backup-exec-9')}{body}"
    ours = Finding("step_out_of_order", Severity.ERROR, "opened by the agent", fix=fix,
                   other_profile="wrong_way")
    assert profile_first(ctx, ours, shown)[:2] == (
        f"{LEAD} The data connection itself worked (established, 2,037,760 B in the "
        "capture), so nothing in the firewall needs changing for it.", "")
    other = Finding("step_missing", Severity.ERROR, "no callback", fix=fix,
                    other_profile="fix")
    lead, rest, _ = profile_first(ctx, other, shown)
    assert lead == f"{LEAD} If it is backup-exec-9 traffic after all: ", lead
    assert rest == body, rest
