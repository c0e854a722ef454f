"""A capture holding only a job's callback (or a data connection without bulk data), its
control connection filtered out (new-user trial 60; note58 Left 0): each cut here from a
stored capture with tshark, as the user cut it.

`tshark -Y 'tcp.port==5001'` of lab/clean-3-resources (the callback alone) and `-Y ip`
of a dual-stack job whose control connection ran over IPv6 (field57, field66: the
callback's SYNs alone, or its one direction) read FAIL, no_control_session, "check
--ndmp-port"; with the data connections kept such a capture read INCONCLUSIVE,
capture_filtered. Now the same: the ports in the configured ranges, both narrower than
flowcheck's default, tie a connection without bulk data to a job
(flowcheck.verify.control_left_out). Beside another file's judged job such a file (a
piece of the set) read PASS, the capture_filtered warning counting only without a
session: now INCONCLUSIVE, the warning naming the file (findings.control_left_out).
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from stored import CAPTURES, stored_analysis

from flowcheck.model import Severity
from flowcheck.pipeline import Analysis
from flowcheck.report.verdict_notes import inconclusive_note

CLEAN = CAPTURES / "lab" / "clean-3-resources.pcap"
CLEAN_TOML = CAPTURES / "lab" / "clean-3-resources.toml"
V4_BACKUP = CAPTURES / "ndmjob" / "v4-backup.pcap"
FIELD57 = (CAPTURES / "field57-matrix"
           / "dual-stack-callback-syns-dropped-by-media-any-on-agent-sll2")
FIELD66 = CAPTURES / "field66-matrix" / "dual-data-synacks-dropped-by-agent-in-on-media-pcapng"


def _cut(source: Path, display_filter: str, out: Path) -> Path:
    subprocess.run(["tshark", "-r", str(source), "-Y", display_filter, "-F", "pcap",
                    "-w", str(out)], check=True, capture_output=True)
    return out


def _words(text: str) -> str:
    return " ".join(text.split())


def _left_out(analysis: Analysis, errors: tuple[str, ...] = ()) -> str:
    """The one capture_filtered's message, asserting it replaced no_control_session and
    the errors (codes, none outside `errors`: verify.left_out_failed's)."""
    assert "no_control_session" not in [f.code for f in analysis.findings]
    assert [f.code for f in analysis.findings if f.severity == Severity.ERROR] \
        == list(errors)
    [found] = [f for f in analysis.findings if f.code == "capture_filtered"]
    assert found.severity == Severity.WARNING
    assert "--ndmp-port" not in found.fix.split(";")[0]
    return _words(found.message)


def _callback_from(callback_only: Path, port: int, out: Path) -> Path:
    """The callback-only capture with the agent's source port 6077 made `port` (a port
    check's ephemeral port); TCP checksums left stale."""
    linktype, records = read_records(callback_only)
    agent, ephemeral = (6077).to_bytes(2, "big"), port.to_bytes(2, "big")
    edited = []
    for record in records:  # Ethernet, IPv4 without options: the TCP ports at 34 and 36
        assert record.data[14] == 0x45
        ports = record.data[34:38].replace(agent, ephemeral)
        edited.append(replace(record, data=record.data[:34] + ports + record.data[38:]))
    return write_records(out, linktype, edited)


def _assert_no_job(analysis: Analysis) -> None:
    """Nothing ties the capture's connections to a job: FAIL no_control_session, an
    error, and no capture_filtered."""
    assert analysis.verdict == "fail"
    assert "capture_filtered" not in [f.code for f in analysis.findings]
    [missing] = [f for f in analysis.findings if f.code == "no_control_session"]
    assert missing.severity == Severity.ERROR


@pytest.fixture(scope="module")
def callback_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clean-3-resources cut to its callback (10.77.0.2:6077 -> 10.77.0.1:5001: a
    connect and close, not one byte either way)."""
    return _cut(CLEAN, "tcp.port==5001", tmp_path_factory.mktemp("cb") / "callback.pcap")


def test_a_callback_alone_is_the_job_with_its_control_connection_left_out(
        callback_only: Path) -> None:
    analysis = stored_analysis(callback_only, config_path=CLEAN_TOML)
    assert analysis.verdict == "inconclusive"
    message = _left_out(analysis)
    assert message.startswith("The capture left out the job's NDMP control connection: it "
                              "holds no packet to or from the NDMP port 10000")
    assert ("1 connection that a job opens only after its control connection asked for it "
            "opened in it, between 10.77.0.1 and 10.77.0.2 (configured as the job's hosts, "
            "each port in its side's range), none carrying bulk data (the ranges, both "
            "narrower than flowcheck's default 1025-65535, tie it to a job): "
            "C1 10.77.0.2:6077 -> 10.77.0.1:5001 (the agent into the media range)."
            in message), message
    assert "opening only" not in message  # its handshake and close are in the capture
    [unannounced] = [f for f in analysis.findings if f.code == "unannounced_connection"]
    assert unannounced.uid == "C1"
    assert "left out its control connection" in inconclusive_note(analysis)


def test_a_callback_alone_with_a_default_range_is_no_job(callback_only: Path,
                                                         tmp_path: Path) -> None:
    """With the agent range flowcheck's default any port check of the media server's
    port from the agent fits the callback's shape: no tie to a job, no_control_session
    (an error) as before."""
    toml = tmp_path / "no-agent-range.toml"
    toml.write_text("".join(line for line in CLEAN_TOML.read_text().splitlines(True)
                            if not line.startswith("agent_range")))
    _assert_no_job(stored_analysis(callback_only, config_path=toml))


def test_a_port_check_of_the_job_engine_port_is_no_job(callback_only: Path,
                                                       tmp_path: Path) -> None:
    """The same connect and close from the agent's ephemeral port 45000 (outside the
    agent range: Test-NetConnection, nc -z) is a port check, not the job's callback: a
    capture of it alone reads as before, no_control_session (an error)."""
    check = _callback_from(callback_only, 45000, tmp_path / "port-check.pcap")
    _assert_no_job(stored_analysis(check, config_path=CLEAN_TOML))


def test_the_ipv4_half_of_a_dual_stack_job_whose_callback_syns_went_unanswered(
        tmp_path: Path) -> None:
    """field57: the control connection over IPv6, the callback over IPv4 dropped by the
    media server (4 SYNs); `-Y ip` keeps the SYNs alone. Its words keep the openings-only
    reading: a firewall's drop capture looks the same. The SYNs resent unanswered show
    the callback failed: callback_unanswered, no session, FAIL, as the whole capture
    reads (it read INCONCLUSIVE: review61a, flowcheck.verify.left_out_failed)."""
    cut = _cut(FIELD57.with_name(FIELD57.name + ".pcap.gz"), "ip", tmp_path / "v4.pcap")
    analysis = stored_analysis(cut, config_path=FIELD57.with_name(FIELD57.name + ".toml"))
    assert analysis.verdict == "fail"
    message = _left_out(analysis, ("callback_unanswered",))
    [failed] = [f for f in analysis.findings if f.code == "callback_unanswered"]
    assert (failed.uid, failed.session) == ("C1", None)
    assert failed.message.startswith(
        "The job's callback C1 10.77.0.2:6040 -> 10.77.0.1:5001 (tied to the job by its "
        "ports, its control connection not in the capture: capture_filtered) was never "
        "answered: 4 SYNs over")
    assert failed.fix.startswith("Allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100 "
                                 "(the media range)")
    assert "C1 10.77.0.2:6040 -> 10.77.0.1:5001 (the agent into the media range)" in message
    assert ("It is its opening only, never answered there (4 SYNs from 10.77.0.2 to "
            "10.77.0.1:5001): a firewall's capture of the packets it dropped" in message)
    assert "kept one address family of a dual-stack job" in message
    [found] = [f for f in analysis.findings if f.code == "capture_filtered"]
    assert "If this is a firewall's drop capture, allow these connections" in found.fix


def test_the_ipv4_half_of_a_dual_stack_job_seen_one_way(tmp_path: Path) -> None:
    """field66: the callback's packets from the agent only (captured inbound on the
    media server), the control connection over IPv6 left out by `-Y ip`."""
    cut = _cut(FIELD66.with_name(FIELD66.name + ".pcapng.gz"), "ip", tmp_path / "v4.pcap")
    analysis = stored_analysis(cut, config_path=FIELD66.with_name(FIELD66.name + ".toml"))
    assert analysis.verdict == "inconclusive"
    assert "C1 10.77.0.2:6078 -> 10.77.0.1:5001" in _left_out(analysis)
    assert "capture_one_direction" in [f.code for f in analysis.findings]


@pytest.mark.parametrize("kept", ["tcp.port==5001", "not tcp.port==10000"],
                         ids=["callback", "callback-and-data"])
def test_a_file_without_its_control_connection_beside_a_judged_job_is_inconclusive(
        kept: str, tmp_path: Path) -> None:
    """Beside ndmjob's v4 backup (a day apart: another piece of the set) the file of
    clean-3-resources' connections without its control connection read PASS (the data
    connections kept: capture_filtered made a verdict inconclusive only without a
    session) or FAIL (the callback alone: no_control_session). Now INCONCLUSIVE, the
    warning naming the file."""
    cut = _cut(CLEAN, kept, tmp_path / "cut.pcap")
    analysis = stored_analysis(V4_BACKUP, cut, config_path=CLEAN_TOML, profile="ndmp")
    assert [[s.status for s in session.steps] for session in analysis.sessions] \
        == [["ok"] * 4]
    assert analysis.verdict == "inconclusive"
    message = _left_out(analysis)
    assert message.startswith("The file cut.pcap of the capture set left out the job's "
                              "NDMP control connection: it holds no packet")
    assert ("the capture set holds another job's connections without its control "
            "connection" in inconclusive_note(analysis))
    # The verdict and its note tell that warning by its reading, not its words (task
    # lossfield: they looked for CONTROL_LEFT_OUT in the message): reworded, both stay.
    [left] = [f for f in analysis.findings if f.code == "capture_filtered"]
    assert left.reading == "control_left_out"
    reworded = replace(analysis, findings=[replace(f, message="reworded") if f is left
                                           else f for f in analysis.findings])
    assert reworded.verdict == "inconclusive"
    assert "another job's connections without its control connection" \
        in inconclusive_note(reworded)


@pytest.mark.parametrize("agent_range", ["1024-65535", "32768-60999", "6001-6100,40000-50000"])
def test_a_port_check_whose_source_range_holds_ephemeral_ports_is_no_job(
        callback_only: Path, tmp_path: Path, agent_range: str) -> None:
    """A callback-shaped connect and close (here the job's own, source port 6077) tied to
    a job by its ports alone only when the agent range, where its source port is, holds
    few of an operating system's ephemeral ports: a range "narrowed" to 1024-65535 (or
    Linux's ephemeral range, or one with a wide part) holds a port check's source port by
    chance (review61a: `python -c 'socket.connect(("10.77.0.1", 5001))'` from the agent,
    source port 60540, read INCONCLUSIVE "this is not a capture without the job").
    no_control_session (an error), as with the default range."""
    toml = tmp_path / "wide-agent-range.toml"
    toml.write_text("".join(
        f'agent_range = "{agent_range}"\n' if line.startswith("agent_range") else line
        for line in CLEAN_TOML.read_text().splitlines(True)))
    check = callback_only if agent_range == "6001-6100,40000-50000" else \
        _callback_from(callback_only, 60540, tmp_path / "port-check.pcap")
    _assert_no_job(stored_analysis(check, config_path=toml))


def test_a_callback_tried_again_and_answered_is_no_failure(tmp_path: Path) -> None:
    """The field57 cut's unanswered callback (10.77.0.2:6040 -> 10.77.0.1:5001, 4 SYNs)
    followed 10 s later by clean-3-resources' callback to the same port, answered
    (mergecap, pcapng: Linux cooked v2 and Ethernet): the agent tried again and got
    through, so no callback_unanswered; the capture reads INCONCLUSIVE, capture_filtered
    naming both."""
    syns = _cut(FIELD57.with_name(FIELD57.name + ".pcap.gz"), "ip", tmp_path / "syns.pcap")
    answered = _cut(CLEAN, "tcp.port==5001", tmp_path / "cb.pcap")
    first = float(subprocess.run(
        ["capinfos", "-a", "-S", "-T", "-r", str(syns)], check=True, capture_output=True,
        text=True).stdout.split()[-1])
    later = float(subprocess.run(
        ["capinfos", "-a", "-S", "-T", "-r", str(answered)], check=True, capture_output=True,
        text=True).stdout.split()[-1])
    shifted = tmp_path / "cb-later.pcap"
    subprocess.run(["editcap", "-t", f"{first - later + 10:.6f}", str(answered),
                    str(shifted)], check=True, capture_output=True)
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-F", "pcapng", "-w", str(merged), str(syns), str(shifted)],
                   check=True, capture_output=True)
    analysis = stored_analysis(merged, config_path=CLEAN_TOML)
    assert analysis.verdict == "inconclusive"
    message = _left_out(analysis)
    assert "C1 10.77.0.2:6040 -> 10.77.0.1:5001" in message
    assert "C2 10.77.0.2:6077 -> 10.77.0.1:5001" in message


def test_plain_ndmp_data_syns_unanswered_without_the_control_connection(
        tmp_path: Path) -> None:
    """ndmjob's v4 backup whose data SYNs the media server's firewall dropped (9 SYNs
    from the agent into the mover's port), cut to them (`-Y 'not tcp.port==10000'`):
    data_unanswered (the ndmp profile has no callback), FAIL, as the whole capture
    reads; it read INCONCLUSIVE."""
    source = CAPTURES / "ndmjob" / "v4-backup-media-firewall-drop.pcap"
    cut = _cut(source, "not tcp.port==10000", tmp_path / "cut.pcap")
    analysis = stored_analysis(cut, config_path=CAPTURES / "ndmjob" / "flowcheck.toml")
    assert analysis.verdict == "fail"
    message = _left_out(analysis, ("data_unanswered",))
    assert "callback" not in message  # plain NDMP has none (it read "the callback's request")
    assert "Nothing of the control connection or the announcements can be judged" in message
    [failed] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert failed.message.startswith("The job's data connection C1 10.77.0.2:6057 -> "
                                     "10.77.0.1:5078")


@pytest.mark.parametrize(("case", "code", "words"), [
    ("callback-blocked", "callback_unanswered", "was never answered: 4 SYNs over"),
    ("callback-rejected", "callback_refused", "was refused: the SYN was answered with an "
     "ICMP unreachable \"communication administratively prohibited by filtering\" (code 13)."),
    ("data-port-rejected", "data_refused", "was refused: the SYN was answered with an "
     "ICMP port unreachable (code 3). An ICMP unreachable answering a SYN is a filter's "
     "reject (a firewall's, or a router's), not a closed port's (that answers a RST)."),
    ("callback-ack-dropped", "handshake_incomplete", "never completed its handshake: "
     "10.77.0.1 resent its SYN-ACK 2 times (frames 4, 6) after 10.77.0.2's ACK"),
])
def test_a_failed_opening_without_the_control_connection_is_its_error(
        tmp_path: Path, case: str, code: str, words: str) -> None:
    """lab cases cut to the job's connections (`-Y 'not tcp.port==10000'`): the opening
    that failed on evidence (SYNs resent unanswered, an ICMP unreachable, a SYN-ACK
    resent after the ACK) is the error the whole capture reads, no session, FAIL;
    each read INCONCLUSIVE, "nothing of the job's steps could be judged" (review61a)."""
    source = CAPTURES / "lab" / f"{case}.pcap"
    cut = _cut(source, "not tcp.port==10000", tmp_path / "cut.pcap")
    analysis = stored_analysis(cut, config_path=source.with_suffix(".toml"))
    assert analysis.verdict == "fail"
    _left_out(analysis, (code,))
    [failed] = [f for f in analysis.findings if f.code == code]
    assert failed.session is None
    assert "(tied to the job by its ports, its control connection not in the capture: " \
        "capture_filtered) " + words in failed.message, failed.message


@pytest.mark.parametrize(("case", "verdict", "errors"), [
    ("one-direction-in", "inconclusive", ()),
    ("one-direction-out-data-dropped", "fail", ("data_unanswered",)),
])
def test_a_one_direction_capture_without_its_control_connection(
        tmp_path: Path, case: str, verdict: str, errors: tuple[str, ...]) -> None:
    """lab/one-direction-* (tcpdump -Q in / -Q out on the media server) cut to the job's
    connections: each connection the other side opened is its SYN-ACK only, its opening
    in the capture all the same, the job's shape; they read FAIL no_control_session,
    "check --ndmp-port" (a connection "that fits neither shape" kept the error; review61a).
    Now as the whole captures read, less the control connection: capture_filtered, and
    the data SYNs M resent unanswered data_unanswered."""
    source = CAPTURES / "lab" / f"{case}.pcap"
    cut = _cut(source, "not tcp.port==10000", tmp_path / "cut.pcap")
    analysis = stored_analysis(cut, config_path=source.with_suffix(".toml"))
    assert analysis.verdict == verdict
    message = _left_out(analysis, errors)
    assert "(the agent into the media range)" in message  # the callback, SYN-ACK or SYN
    assert "capture_one_direction" in [f.code for f in analysis.findings]


@pytest.mark.parametrize("case", [
    "lab-trial28-dualstack/callback-fallback-v6-rst.pcap.gz",
    "ndmjob-ended/v4-ended-at-start-then-good-media.pcap.gz",
    "lab/data-port-in-use.pcap",
    "ndmjob-ended/v4-ended-leftovers-parallel-media.pcap.gz",
    "trial43-syn-filter/syn-filter-two-jobs.pcap.gz",
    "lab/stopped-after-data-syn-ack.pcap",
    "trial36-firewall-devices/asa-return-drop-nat.pcap",
])
def test_an_opening_failed_on_no_evidence_is_no_error(
        tmp_path: Path, case: str) -> None:
    """Cut to the job's connections, a refused opening followed by an opened one of its
    shape: the callback refused over IPv6 then taken over IPv4 (whole: PASS,
    ip_version_fallback), an ended job's late connect refused beside a new job's data
    connection (whole: PASS), a data port in use then the next resource's (whole: FAIL
    data_refused), and an ended job's late connect refused (RST) after the new jobs'
    (whole: PASS); a handshake without its last ACK in a capture that kept SYNs only or
    stopped after the SYN-ACK (whole: INCONCLUSIVE); data SYNs whose SYN-ACKs the capture
    holds under a NAT's other address (whole: FAIL handshake_incomplete). Only the
    control connection tells a fallback or leftover from a failure, and only a SYN-ACK
    resent after the ACK a lost ACK from an unheld one: no error, INCONCLUSIVE (all but
    data-port-in-use read FAIL callback_refused / data_refused / handshake_incomplete /
    data_unanswered without the guards; review61a)."""
    source = CAPTURES / case
    stem = source.name.removesuffix(".gz").removesuffix(".pcap")
    config = source.with_name(stem + ".toml")
    cut = _cut(source, "not tcp.port==10000", tmp_path / "cut.pcap")
    analysis = stored_analysis(cut, config_path=config if config.exists()
                               else source.parent / "flowcheck.toml")
    assert analysis.verdict == "inconclusive"
    _left_out(analysis)


def test_a_router_s_network_unreachable_is_no_filter_s_reject_said_so(
        tmp_path: Path) -> None:
    """field46's data connections answered with an ICMP network unreachable (code 0) by
    the router 10.77.0.254, cut to the job's connections (the control connection ran
    over IPv6 on port 10000): data_refused x3, which said "An ICMP unreachable answering
    a SYN is a filter's reject" and "allow ... where a rule rejects it", where a routing
    code from a router may be that router's missing route, or the agent down (as the
    whole capture's data_refused says: verify.refusals.icmp_cause). Now it says so, and
    the fix checks the route first (final61c)."""
    source = CAPTURES / "field46-matrix" / "data-router-net-unreachable-dual-stack.pcap"
    cut = _cut(source, "not tcp.port==10000", tmp_path / "cut.pcap")
    analysis = stored_analysis(cut, config_path=source.with_suffix(".toml"))
    assert analysis.verdict == "fail"
    _left_out(analysis, ("data_refused",) * 3)
    for failed in (f for f in analysis.findings if f.code == "data_refused"):
        message = _words(failed.message)
        assert "filter's reject" not in message, message
        assert "(code 0) from 10.77.0.254. 10.77.0.254 could not reach 10.77.1.2 " \
            "(10.77.1.2 down, or no route or no ARP or neighbour answer to it from " \
            "there), or a filter there rejects the connection with that code" in message
        assert failed.fix.startswith("Check that 10.77.1.2 is up and that 10.77.0.254 "
                                     "routes to it"), failed.fix
