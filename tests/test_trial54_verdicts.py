"""Verdicts new-user trial 54 doubted, each on a stored capture cut as the user cut it
with tshark or editcap (real tools, real captures):

1. The job's callback and data connections without its control connection (port 10000
   filtered out) read FAIL, no_control_session: now capture_filtered (inconclusive),
   the connections unannounced_connection (flowcheck.verify.control_left_out).
2. Plain NDMP (ndmjob) with no profile given read FAIL for the Backup Exec callback it
   never needs: now judged by the ndmp profile, profile_inferred (verify.plain_reading);
   a Backup Exec job whose callback a firewall drops still fails, and a profile given is
   kept.
3. Inconclusive with `findings: []`: every inconclusive verdict has a finding that says
   why (step_unknown when none other does: verify.unknown_steps), over every stored case.
4. Step 3 when the capture lacks the announced address: one rule (verify
   .lost_announcement); a capture that joined the job late stays inconclusive however
   many resources it holds: `resources` is not checked against what came before it
   (verify.late_job, review54g).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from stored import CAPTURES, errors, stored_analysis, stored_cases

from flowcheck.findings import CAPTURE_LIMITS, CATALOGUE
from flowcheck.model import Severity
from flowcheck.pipeline import Analysis

LAB = CAPTURES / "lab"
CLEAN = LAB / "clean-3-resources.pcap"
CLEAN_TOML = LAB / "clean-3-resources.toml"
NDMJOB = CAPTURES / "ndmjob"


def _tool(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def _codes(analysis: Analysis) -> list[str]:
    return [f.code for f in analysis.findings]


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_jobs_connections_without_their_control_connection_are_inconclusive(
        tmp_path: Path) -> None:
    """Item 1: clean-3-resources without port 10000 read FAIL, no_control_session, its
    four connections role `other` with no warning."""
    cut = tmp_path / "no-control.pcap"
    _tool("tshark", "-r", str(CLEAN), "-Y", "not tcp.port==10000", "-w", str(cut))
    analysis = stored_analysis(cut, config_path=CLEAN_TOML)
    assert analysis.verdict == "inconclusive"
    assert not errors(analysis)
    assert "no_control_session" not in _codes(analysis)
    [left_out] = [f for f in analysis.findings if f.code == "capture_filtered"]
    assert left_out.severity == Severity.WARNING
    message = _words(left_out.message)
    assert "left out the job's NDMP control connection" in message
    assert "200,000 B one way" in message
    assert ("between 10.77.0.1 and 10.77.0.2 (configured as the job's hosts, each port in "
            "its side's range), 3 carrying a data connection's bulk data" in message)
    assert left_out.frames == [1, 4, 189, 374]
    unexplained = [f for f in analysis.findings if f.code == "unannounced_connection"]
    assert sorted(f.uid for f in unexplained) == ["C1", "C2", "C3", "C4"]


def test_the_left_out_control_connection_names_only_the_hosts_configured(
        tmp_path: Path) -> None:
    """Review finalread54b: with the ranges alone pinning the sides (no --media-server,
    no --remote-agent) the message read "(configured as the job's hosts, ...)", and "one
    carrying" of three connections that carried the data."""
    cut = tmp_path / "no-control.pcap"
    _tool("tshark", "-r", str(CLEAN), "-Y", "not tcp.port==10000", "-w", str(cut))
    lines = CLEAN_TOML.read_text().splitlines()
    for left, words in ((("media_servers",), "only 10.77.0.2 named in the configuration"),
                        (("remote_agents",), "only 10.77.0.1 named in the configuration"),
                        (("media_servers", "remote_agents"),
                         "neither host named in the configuration")):
        toml = tmp_path / "ranges.toml"
        toml.write_text("\n".join(line for line in lines
                                  if not line.startswith(left)) + "\n")
        analysis = stored_analysis(cut, config_path=toml)
        assert analysis.verdict == "inconclusive"
        [left_out] = [f for f in analysis.findings if f.code == "capture_filtered"]
        message = _words(left_out.message)
        assert "configured as the job's hosts" not in message
        assert (f"between 10.77.0.1 and 10.77.0.2 (each port in its side's range; {words}), "
                "3 carrying a data connection's bulk data" in message), message


def test_a_transfer_between_the_hosts_alone_is_no_job_without_its_control() -> None:
    """Review54g: no NDMP at all, a 1 MB upload from 10.77.0.2:40123 to 10.77.0.1:8080,
    the two hosts configured and no range (the default 1025-65535 holds both ports),
    read capture_filtered (inconclusive), "this is not a capture without the job"."""
    analysis = stored_analysis(CAPTURES / "review54g" / "hosts-only-unrelated-upload.pcap.gz")
    assert analysis.verdict == "fail"
    assert "capture_filtered" not in _codes(analysis)
    [missing] = [f for f in analysis.findings if f.code == "no_control_session"]
    assert missing.severity == Severity.ERROR


def test_plain_ndmp_with_no_profile_given_is_judged_as_plain_ndmp() -> None:
    """Item 2: ndmjob's v4 backup, no configuration: FAIL, step_missing (the callback)
    and step_out_of_order, though the job moved its data and halted with success."""
    analysis = _defaults(NDMJOB / "v4-backup.pcap")
    assert analysis.verdict == "pass"
    assert analysis.profile is not None and analysis.profile.name == "ndmp"
    [inferred] = [f for f in analysis.findings if f.code == "profile_inferred"]
    assert inferred.severity == Severity.INFO
    assert "DATA_CONNECT, frame 11" in inferred.message
    assert "callback step does not apply" in _words(inferred.message)
    assert [s.status for s in analysis.sessions[0].steps] == ["ok"] * 4


def test_a_profile_given_is_kept(tmp_path: Path) -> None:
    """The same capture with --profile backup-exec-9 given: the user's profile, its
    callback step missing (nothing inferred)."""
    config = tmp_path / "be.toml"
    config.write_text('profile = "backup-exec-9"\n')
    analysis = stored_analysis(NDMJOB / "v4-backup.pcap", config_path=config)
    assert analysis.verdict == "fail"
    assert "step_missing" in _codes(analysis)
    assert "profile_inferred" not in _codes(analysis)


def test_backup_exec_with_its_callback_dropped_still_fails() -> None:
    """A Backup Exec job (its vendor message) whose callback the firewall drops, no
    profile given (trial26-middlebox's configuration names none): still FAIL."""
    folder = CAPTURES / "trial26-middlebox"
    analysis = stored_analysis(folder / "cb-drop-at-M.pcap.gz",
                               config_path=folder / "flowcheck.toml")
    assert analysis.verdict == "fail"
    assert "step_missing" in _codes(analysis)
    assert "profile_inferred" not in _codes(analysis)


def test_backup_exec_whose_vendor_message_the_sniffer_lost_is_not_read_as_plain(
        tmp_path: Path) -> None:
    """Review54g: lab/agent-connects-data (Backup Exec, the agent connecting to the
    mover: step_out_of_order) without frames 15-19, its vendor message and reply and
    the callback's handshake lost by the sniffer (ndmp_partial: 1 whole message each
    way never captured), no profile given, read PASS by the ndmp profile: a vendor
    message the capture lost is no sign of its absence."""
    cut = tmp_path / "vendor-lost.pcap"
    _tool("tshark", "-r", str(LAB / "agent-connects-data.pcap"), "-Y",
          "not frame.number in {15..19}", "-w", str(cut))
    config = tmp_path / "no-profile.toml"
    config.write_text("".join(line for line in
                              (LAB / "agent-connects-data.toml").read_text().splitlines(True)
                              if not line.startswith("profile")))
    analysis = stored_analysis(cut, config_path=config)
    assert "ndmp_partial" in _codes(analysis)
    assert "profile_inferred" not in _codes(analysis)
    assert analysis.verdict == "fail"
    assert "step_out_of_order" in _codes(analysis)


def _defaults(capture: Path) -> Analysis:
    """The capture analysed with flowcheck's defaults (no file, no flags)."""
    from flowcheck.config import build_config
    from flowcheck.pipeline import analyze, read_traffic

    config = build_config({})
    return analyze(read_traffic([str(capture)], config), config)


def test_an_inconclusive_verdict_says_why_in_a_finding(tmp_path: Path) -> None:
    """Item 3: ndmjob's v4 backup without its data connection after the SYN read
    inconclusive with no finding at all."""
    cut = tmp_path / "data-gone.pcap"
    _tool("tshark", "-r", str(NDMJOB / "v4-backup.pcap"), "-Y",
          "not (tcp.port==5014 and frame.number>12)", "-w", str(cut))
    analysis = stored_analysis(cut, config_path=NDMJOB / "flowcheck.toml")
    assert analysis.verdict == "inconclusive"
    [why] = analysis.findings
    assert (why.code, why.severity, why.session) == ("step_unknown", Severity.WARNING, "S1")
    message = _words(why.message)
    assert message.startswith("Step 3 (data connection to the announced endpoint) of session "
                              "S1 cannot be judged from the capture: 10.77.0.1:5014: its one "
                              "SYN (frame 12)")
    assert "Also unknown: step 4" in message
    assert why.frames == [12] and why.uid == "C2" and why.ts is not None


def _explains(code: str) -> bool:
    """Does a finding of this code say why a verdict is inconclusive: a capture limit,
    step_unknown, no_control_session (then a warning), or any code that is a warning or
    an error by default (what the job did instead)?"""
    return code in CAPTURE_LIMITS or code in ("step_unknown", "no_control_session") \
        or CATALOGUE.get(code) in (Severity.WARNING, Severity.ERROR)


def test_every_stored_inconclusive_case_has_a_finding_that_says_why() -> None:
    """The rule over every stored case's reviewed expectation (what regress holds the
    analysis to): trial25-sniff/r-wholecallback and two trial43-syn-filter cases held
    only infos or findings of no session before step_unknown."""
    inconclusive = 0
    for case in stored_cases():
        if case.problem is not None or not case.expected_path.is_file():
            continue
        expected = json.loads(case.expected_path.read_text())
        if expected.get("verdict") != "inconclusive":
            continue
        inconclusive += 1
        assert any(map(_explains, expected["findings"])), \
            f"{case.capture}: inconclusive with {expected['findings']}"
    assert inconclusive > 50


def _step3(analysis: Analysis) -> tuple[str, str]:
    [session] = analysis.sessions
    step = session.steps[2]
    return step.status, _words(step.detail)


def test_one_rule_for_an_announced_address_the_capture_lacks(tmp_path: Path) -> None:
    """Item 4: the same blind spot read `unknown` with a NAT paragraph (one direction,
    its ACKs proving 600,000 B), `ok` (the snap length) and `ok` "announced before the
    capture started" (never seen, its data connection dropped). Now what the capture
    proves: the data that flowed shows the announcement reached the connector (`ok`),
    the address it named cannot be checked (said); with no data, `unknown`."""
    one_way = tmp_path / "media-only.pcap"
    _tool("tshark", "-r", str(CLEAN), "-Y", "ip.src==10.77.0.1", "-w", str(one_way))
    snapped = tmp_path / "snap96.pcap"
    _tool("editcap", "-s", "96", str(CLEAN), str(snapped))
    for capture in (one_way, snapped):
        analysis = stored_analysis(capture, config_path=CLEAN_TOML)
        status, detail = _step3(analysis)
        assert status == "ok", capture.name
        assert "C3, C4, C5 carried 600,000 B to the media server" in detail
        lacks = "its address" if capture is snapped else "it"  # its header read, or not
        assert f"the announcement reached the connector, though the capture lacks {lacks}; " \
            "whether it named the address C3, C4, C5 reached cannot be checked " \
            "(announced_address_mismatch needs the address read" in detail
        assert analysis.verdict == "pass"  # with the warning of what the capture lacks
        assert {"capture_one_direction", "ndmp_partial"} & set(_codes(analysis))
    before = tmp_path / "before-capture.pcap"
    _tool("editcap", "-r", str(LAB / "data-port-dropped.pcap"), str(before), "22-33")
    analysis = stored_analysis(before, config_path=LAB / "data-port-dropped.toml")
    status, detail = _step3(analysis)
    assert status == "unknown"
    assert "no data connection carried the job's data to show that the announcement " \
        "reached the connector" in detail
    assert analysis.verdict == "fail"  # its data connection unanswered: data_unanswered


def test_resources_never_lifts_a_late_captures_doubt(tmp_path: Path) -> None:
    """Item 4, l2, reversed by review54g: `resources` was read as exact, so a late capture
    holding that many resources was judged as usual. data-port-in-use (two resources,
    the first refused: FAIL data_refused) cut from frame 24 holds the second alone and
    read PASS with `resources = 1`. The setting is not checked against the traffic the
    capture lacks: the steps stay unknown for the job as a whole, and the words say why
    the setting does not lift that (clean-3-resources from frame 18, `resources = 3`,
    too); without the setting, no such words."""
    refused = tmp_path / "refused.pcap"
    _tool("editcap", "-r", str(LAB / "data-port-in-use.pcap"), str(refused), "24-100000")
    late = tmp_path / "late.pcap"
    _tool("editcap", "-r", str(CLEAN), str(late), "18-644")
    for cut, config, resources in ((refused, LAB / "data-port-in-use.toml", 1),
                                   (late, CLEAN_TOML, 3)):
        analysis = stored_analysis(cut, config_path=config, resources=resources)
        assert analysis.verdict == "inconclusive", cut.name
        status, detail = _step3(analysis)
        assert status == "unknown" and detail.startswith("unknown for the job as a whole")
        [started] = [f for f in analysis.findings if f.code == "capture_started_mid_session"]
        assert f"the capture holds as many resources as `resources` configures ({resources}:" \
            in _words(started.message), cut.name
        assert "but that setting is not checked against traffic the capture lacks" in detail
    unconfigured = stored_analysis(late, config_path=CLEAN_TOML, resources=None)
    assert unconfigured.verdict == "inconclusive"
    assert "`resources`" not in _step3(unconfigured)[1]


def test_a_pass_whose_address_check_was_not_done_says_so_in_a_finding(
        tmp_path: Path) -> None:
    """Review54g: lab/announced-address-nat (FAIL, announced_address_mismatch) cut to the
    media server's packets or to 96 bytes a frame reads PASS (step 3 `ok`: the data
    reached the announced port); only step 3's detail said the address check could not
    be done, the warning a script reads (capture_one_direction, ndmp_partial) did not;
    nor did the sniffer's loss's ndmp_partial of a hole the sequence numbers do not tell
    (review finalread54b)."""
    nat = LAB / "announced-address-nat.pcap"
    one_way = tmp_path / "media-only.pcap"
    _tool("tshark", "-r", str(nat), "-Y", "ip.src==10.77.0.1", "-w", str(one_way))
    snapped = tmp_path / "snap96.pcap"
    _tool("editcap", "-s", "96", str(nat), str(snapped))
    # Review finalread54b: a hole of the control stream holding more messages than the
    # sequence numbers name (the DATA_LISTEN request and reply, DATA_START_BACKUP).
    holed = tmp_path / "hole.pcap"
    _tool("tshark", "-r", str(nat), "-Y", "not frame.number in {20..26}", "-w", str(holed))
    for cut, code in ((one_way, "capture_one_direction"), (snapped, "ndmp_partial"),
                      (holed, "ndmp_partial")):
        analysis = stored_analysis(cut, config_path=LAB / "announced-address-nat.toml")
        assert analysis.verdict == "pass", cut.name
        [warning] = [f for f in analysis.findings if f.code == code]
        assert "Session S1: whether its announcement named the address C3 reached cannot " \
               "be checked: announced_address_mismatch" in _words(warning.message), cut.name


def test_a_hole_that_names_the_announcement_gets_no_second_note(tmp_path: Path) -> None:
    """announced-address-nat without frame 21 (the DATA_LISTEN reply): the hole's words
    name the announcement and say its address cannot be checked (flowcheck.ndmp.lost),
    so verify.lost_announcement adds no note of its own. It told so by "the one reached"
    in the message, words of another module (task lossfield); now by the stream's
    holes_unchecked, which the decoder's findings set."""
    holed = tmp_path / "reply-lost.pcap"
    _tool("tshark", "-r", str(LAB / "announced-address-nat.pcap"), "-Y",
          "not frame.number == 21", "-w", str(holed))
    analysis = stored_analysis(holed, config_path=LAB / "announced-address-nat.toml")
    assert analysis.verdict == "pass"
    assert [s.match_reason for s in analysis.sessions] == ["capture_loss"]
    assert [s.holes_unchecked for s in analysis.traffic.streams] == [True]
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    message = _words(partial.message)
    assert "the reply to DATA_LISTEN (frame 20); that reply is an announcement" in message
    assert "whether its announcement named the address" not in message
