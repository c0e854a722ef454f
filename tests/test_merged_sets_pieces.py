"""Files of a capture set apart in time are each read as they read alone (mergedone).

mergedsets' sweep (every stored case given with ndmjob's v4 backup, days before) found
three whole-set readings that let one file hide what another shows alone: the census of
the directions each host pair's capture holds (capture_one_direction lost in 22
one-direction cases: the v4 backup's two-way traffic between the same hosts), the
capture's start taken as the set's (a late SYN-ACK resend read handshake_incomplete, a
FAIL), and the "no session" checks applied only to a set without any session (a
firewall's SYN-only capture, a capture of another program, traceroute probes beside the
v4 job read PASS). flowcheck.sources.pieces splits the set at the time between files
that no file covers (sources.file_gaps); each piece is read alone for these.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pcap_records import moved_back, stored_records, write_records
from stored import CAPTURES

from flowcheck.config import build_config, load_file
from flowcheck.model import CaptureInfo, RingGap
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sources.pieces import set_pieces

NDMJOB = CAPTURES / "ndmjob" / "v4-backup.pcap"


def _read(case: str, *, first: bool = False, profile: bool = False) -> tuple[Analysis, Analysis]:
    """(the case alone, the case with ndmjob's v4 backup: before it when `first` is
    False), each with the case's configuration without `profile` (test_merged_sets'),
    or with it when `profile`."""
    path = CAPTURES / case
    sidecar = path.with_name(path.name.split(".")[0] + ".toml")
    if not sidecar.is_file():
        sidecar = path.with_name("flowcheck.toml")
    config = build_config({k: v for k, v in load_file(sidecar).items()
                           if k != "profile" or profile})
    inputs = [str(path), str(NDMJOB)] if first else [str(NDMJOB), str(path)]
    return (analyze(read_traffic([str(path)], config), config),
            analyze(read_traffic(inputs, config), config))


def _codes(analysis: Analysis, code: str) -> list[str]:
    return [f.message for f in analysis.findings if f.code == code]


def test_pieces_split_at_the_time_no_file_covers() -> None:
    """Two files a day apart are two pieces, each file named in its own; a ring's hole is
    no split (one capture); one file is one piece, "the capture"."""
    infos = [CaptureInfo("/x/old.pcap", span=(100.0, 200.0)),
             CaptureInfo("/x/new.pcap", span=(86_500.0, 86_600.0))]
    pieces = set_pieces(infos, [RingGap("old.pcap", "new.pcap", 200.0, 86_500.0, ring=False)],
                        [])
    assert len(pieces) == 2
    assert [pieces.of(ts) for ts in (100.0, 200.0, 86_499.0, 86_500.0, 90_000.0)] == [
        0, 0, 0, 1, 1]
    assert pieces.start(1) == 86_500.0 and pieces.start(0) is None
    assert pieces.words(1) == "the file new.pcap of the capture set"
    ring = set_pieces(infos, [RingGap("a.pcap1", "a.pcap3", 200.0, 86_500.0)], [])
    assert len(ring) == 1 and ring.words(0) == "the capture"


@pytest.mark.parametrize("first", [False, True])
def test_a_one_direction_capture_beside_a_two_way_job_keeps_its_warning(first: bool) -> None:
    """lab/one-direction-out (tcpdump -Q out on the media server: nothing from the agent
    10.77.0.2) beside ndmjob's v4 backup between the same hosts: the warning names this
    file and its four connections, the callback whose side was FIN and ACK only among
    them (sessions.held_elsewhere read it held by the v4 job's packets); the v4 job's
    session has no warning."""
    alone, merged = _read("lab/one-direction-out.pcap", first=first)
    [said] = _codes(alone, "capture_one_direction")
    assert said.startswith("The capture holds no packet from 10.77.0.2 to 10.77.0.1, although "
                           "4 connection(s)")
    [warning] = [f for f in merged.findings if f.code == "capture_one_direction"]
    assert warning.message.startswith(
        "The file one-direction-out.pcap of the capture set holds no packet from 10.77.0.2 "
        "to 10.77.0.1, although 4 connection(s)"), warning.message
    assert "10.77.0.2:6075 -> 10.77.0.1:5001" in warning.message  # the callback
    job = next(s for s in merged.sessions if s.id != warning.session)
    assert [s.status for s in job.steps] == ["ok"] * 4  # v4's steps, all seen both ways


def test_a_late_synack_resend_is_given_up_before_its_own_file_started() -> None:
    """ndmjob-late-synack/late-synack-ok-media's first control connection is a SYN-ACK
    resend and its RST, 0.3 s into the file: alone it is capture_started_mid_session;
    beside the v4 backup, days earlier, it read handshake_incomplete (FAIL) from the
    set's start. Now from its file's, named."""
    alone, merged = _read("ndmjob-late-synack/late-synack-ok-media.pcap.gz")
    assert alone.verdict == merged.verdict == "pass"
    assert not _codes(merged, "handshake_incomplete")
    [said] = _codes(merged, "capture_started_mid_session")
    assert "whose SYN came before the file late-synack-ok-media.pcap.gz of the capture set " \
           "started" in said, said


@pytest.mark.parametrize(("case", "verdict", "code", "opening"), [
    # a Palo Alto's drop stage: two data ports' SYNs only (trial 36): the job's data
    # connections without its control connection (cbonly), their SYNs resent unanswered:
    # data_unanswered, no session (review61a: verify.left_out_failed)
    ("trial36-firewall-devices/pa-data-drop-stage-drop.pcap", "fail",
     "capture_filtered", "The file pa-data-drop-stage-drop.pcap of the capture set left out "
     "the job's NDMP control connection: it holds no packet to or from the NDMP port 10000"),
    # Webmin's HTTP on the NDMP port, no job
    ("trial23-other-protocol/webmin-only.pcap", "fail", "no_control_session",
     "No NDMP control connection in the file webmin-only.pcap of the capture set: "),
    # traceroute probes and half-open port checks to the NDMP port, no job
    ("review56f/traceroute-probes-only.pcap", "inconclusive", "no_control_session",
     "No job in the file traceroute-probes-only.pcap of the capture set: its 26 connections"),
], ids=["pa-drop-stage", "webmin-only", "traceroute-probes-only"])
def test_a_file_without_a_job_beside_a_job_reads_as_alone(case: str, verdict: str,
                                                          code: str, opening: str) -> None:
    """A file with no session's control connection (or probes only) beside the v4 job read
    PASS: the no-session checks ran only for a set without sessions. Now each piece
    without one gets the no_control_session it gets alone, naming its file."""
    alone, merged = _read(case)
    assert alone.verdict == merged.verdict == verdict
    [said] = _codes(merged, code)
    assert said.startswith(opening), said
    assert [f.session for f in merged.findings if f.code == code] == [None]


def test_a_closed_jobs_aftermath_is_not_judged_beside_another_files_job() -> None:
    """ndmjob-ended/v4-ended-late-rst-media holds only a job ended before the capture
    (its agent's late connect refused, a CONNECT_ERR): alone its steps 2-4 are unknown,
    INCONCLUSIVE (no job ran in the capture); beside a job the capture saw run they are
    not_applicable. The v4 backup days before, in another file, made them so: PASS."""
    alone, merged = _read("ndmjob-ended/v4-ended-late-rst-media.pcap", profile=True)
    assert alone.verdict == merged.verdict == "inconclusive"
    [ended] = [s for s in merged.sessions if s.remote_agent == "10.77.1.2"]
    assert [step.status for step in ended.steps] == ["ok", "unknown", "unknown", "unknown"]


@pytest.mark.parametrize("name", ["stopped-after-control-syn", "stopped-after-data-syn"])
def test_a_capture_stopped_early_is_judged_to_its_own_end(tmp_path: Path, name: str) -> None:
    """lab/stopped-after-*-syn stop right after a SYN: alone capture_ended_early, the
    step unknown (INCONCLUSIVE). Given with ndmjob's v4 backup moved 30 days later (the
    set's end long after the SYN), the time to the set's end read as time the capture
    went on: the SYN unanswered (FAIL). Now to its own file's last packet."""
    linktype, records = stored_records(NDMJOB)
    later = write_records(tmp_path / "v4-later.pcap", linktype,
                          moved_back(list(records), 0, -30 * 86_400 * 1_000_000))
    case = CAPTURES / "lab" / f"{name}.pcap"
    config = build_config({k: v for k, v in load_file(case.with_suffix(".toml")).items()
                           if k != "profile"})
    alone = analyze(read_traffic([str(case)], config), config)
    merged = analyze(read_traffic([str(case), str(later)], config), config)
    assert alone.verdict == merged.verdict == "inconclusive"
    [said] = _codes(alone, "capture_ended_early")
    assert _codes(merged, "capture_ended_early") == [said]


def test_a_file_whose_session_is_an_icmp_quoted_syn_is_judged_not_unread() -> None:
    """trial28-own-unreachable/any-v4-agent-down holds no TCP packet: the media server's
    own ICMP host unreachable quotes its SYN to the agent that is down, a session
    judged (control_refused). Beside the v4 backup, verify.unjudged_files also said "The
    file ... holds no TCP packet ... nothing of a job in it can be judged"."""
    alone, merged = _read("trial28-own-unreachable/any-v4-agent-down.pcap.gz")
    assert alone.verdict == merged.verdict == "fail"
    assert _codes(merged, "control_refused") and not _codes(merged, "no_control_session")
