"""A capture set of two jobs must not let one job's reading hide the other's (mergedsets).

Each stored case is analyzed alone and given together with ndmjob's v4 backup (both
orders), with the case's configuration without `profile` (so each job is read by its
own profile, review56d's method): the set's verdict is the worse of the two readings
alone, and the case's own finding codes are all still there. The sample is the cases
review56d found hidden (TLS on an agent's NDMP port, a file with no TCP packet, a job
whose data connections another job's media server days before kept from it, field46-49
dual-stack two-job captures) and, as controls, a passing job, a job in TLS and
Webmin's HTTPS on the media server's port 10000 beside a job (no job's: still a pass).
"""

from __future__ import annotations

from collections import Counter

import pytest
from stored import CAPTURES

from flowcheck.config import Config, build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

NDMJOB = CAPTURES / "ndmjob" / "v4-backup.pcap"
RANK = {"pass": 0, "inconclusive": 1, "fail": 2}

# (case, whether its configuration is read: without it the hosts are named by nothing,
# as review56d read field57's snap128 TLS job, which then has no session alone)
CASES = [
    ("trial23-other-protocol/tls-on-ndmp-port.pcap", True),
    ("trial23-other-protocol/tls-on-ndmp-port.pcap", False),
    ("field55-matrix/tls-start-dual-stack-control-acks-dropped-by-media-input-routed-any-on-"
     "media.pcap.gz", True),
    ("field57-matrix/tls-start-callback-syns-dropped-by-media-both-hosts-merged-snap128"
     ".pcap.gz", False),
    ("field62-matrix/dual-stack-control-syns-dropped-by-agent-any-on-agent-out-sll2.pcap.gz",
     True),
    ("trial38-stack/wireguard-outer-media.pcap.gz", True),
    ("lab-trial19-network/dns1-control-other-nic.pcap.gz", True),
    ("field46-matrix/callback-dropped-dual-stack-two-jobs.pcapng", True),
    ("field46-matrix/callback-reset-dual-stack-one-direction-two-jobs.pcap", True),
    ("field46-matrix/data-port-in-use-dual-stack.pcap", True),
    ("field47-tls-matrix/two-jobs-dual-stack-callbacks-tls.pcap.gz", True),
    ("field48-tls-start-matrix/dual-stack-data-ack-dropped-tls-start.pcapng", True),
    ("field49-matrix/two-tls-jobs-dual-stack-port-in-use-snap96.pcap.gz", True),
    ("lab/clean-3-resources.pcap", True),
    ("lab/tls-clean.pcap", True),
    # a three-way job whose DMA SYN to the other agent a bridge flooded to this capture
    # point (capture_stray_syn): the v4 backup of the same DMA and agent days before is
    # no sign the point was on their path then (finalread56a: the SYN became a session
    # that kept the job's data connection, capture_filtered, INCONCLUSIVE beside it)
    ("trial27/threeway-flooded-syn-t.pcap.gz", True),
    # TLS on the media server's port 10000 (Webmin's HTTPS): no job's, the set passes
    ("trial23-other-protocol/webmin-on-media.pcap.gz", True),
]


def _config(capture: str, configured: bool) -> Config:
    """The case's configuration file (NAME.toml, else the folder's flowcheck.toml)
    without `profile`; flowcheck's defaults when not `configured`."""
    path = CAPTURES / capture
    stem = path.name.split(".")[0]
    found = [p for p in (path.with_name(stem + ".toml"), path.with_name("flowcheck.toml"))
             if p.is_file()]
    if not configured or not found:
        return build_config({})
    return build_config({k: v for k, v in load_file(found[0]).items() if k != "profile"})


def _analysis(config: Config, *captures: str) -> Analysis:
    return analyze(read_traffic([str(c) for c in captures], config), config)


@pytest.mark.parametrize(("capture", "configured"), CASES,
                         ids=[f"{c.split('/')[-1].split('.')[0]}{'' if k else '-noconfig'}"
                              for c, k in CASES])
def test_a_job_beside_another_keeps_its_reading(capture: str, configured: bool) -> None:
    config = _config(capture, configured)
    case = str(CAPTURES / capture)
    alone = _analysis(config, case)
    other = _analysis(config, str(NDMJOB))
    worst = max(alone.verdict, other.verdict, key=RANK.__getitem__)
    # agent_not_seen goes where the other capture holds a control connection to it
    beside = {s.remote_agent for s in other.sessions}
    own = Counter(f.code for f in alone.findings if f.code != "agent_not_seen" or not any(
        f"agent {agent} " in f.message for agent in beside))
    sessions = _sessions(alone) + _sessions(other)
    for inputs in ((case, str(NDMJOB)), (str(NDMJOB), case)):
        merged = _analysis(config, *inputs)
        assert merged.verdict == worst, (inputs, alone.verdict, other.verdict)
        assert set(own) <= {f.code for f in merged.findings}, inputs
        assert sorted(_sessions(merged)) == sorted(sessions), inputs


def _sessions(analysis: Analysis) -> list[tuple]:
    """Each session's hosts, kind, side and connections (control, callback, data), each
    connection by its ends and first packet's time: the same in any set it is part of."""
    by_uid = {c.uid: (c.orig_h, c.orig_p, c.resp_h, c.resp_p, c.ts)
              for c in analysis.traffic.connections}
    return [(by_uid[s.control_uid], s.media_server, s.remote_agent, s.kind, s.side,
             by_uid.get(s.callback_uid or ""), sorted(by_uid[u] for u in s.data_connections))
            for s in analysis.sessions]


def test_a_session_is_judged_with_its_own_data_connections_beside_an_older_job() -> None:
    """dns1-control-other-nic's job (control over 10.78.0.x, data 10.77.0.1 ->
    10.77.0.2) keeps its data connections and its control_off_backup_network beside
    ndmjob's job of 10.77.0.1, eleven days before: judged, not side traffic."""
    capture = "lab-trial19-network/dns1-control-other-nic.pcap.gz"
    merged = _analysis(_config(capture, True), str(NDMJOB), str(CAPTURES / capture))
    job = next(s for s in merged.sessions if s.media_server == "10.78.0.1")
    assert not job.side
    assert len(job.data_connections) == 2
    assert [f.session for f in merged.findings
            if f.code == "control_off_backup_network"] == [job.id]


def test_lifetimes_join_a_hosts_sessions_and_find_them_by_time() -> None:
    """A host's sessions' spans, overlapping ones joined: alive inside any, not in the
    time between; a session whose opening the capture lacks lives from the beginning."""
    from flowcheck.sessions.lifetimes import Lifetimes

    spans = Lifetimes([("m", (0.0, 10.0)), ("m", (5.0, 20.0)), ("m", (30.0, 40.0)),
                       ("a", (float("-inf"), 1.0))])
    assert [spans.alive_at("m", ts) for ts in (0.0, 15.0, 20.0, 25.0, 35.0, 41.0)] == [
        True, True, True, False, True, False]
    assert not spans.overlaps("m", (21.0, 29.0)) and spans.overlaps("m", (21.0, 30.0))
    assert spans.alive_at("a", -1e9) and not spans.alive_at("a", 2.0)
    assert not spans.alive_at("x", 0.0)


def test_the_note_names_the_job_beside_the_sessions_judged() -> None:
    """TLS on the agent's NDMP port beside ndmjob's clean job: the note under the
    inconclusive verdict says the sessions judged had no error and the set holds what
    may be another job that could not be judged (it said "the job did not get that
    far", of a job whose steps were all ok)."""
    from flowcheck.report.verdict_notes import inconclusive_note

    capture = str(CAPTURES / "trial23-other-protocol" / "tls-on-ndmp-port.pcap")
    analysis = _analysis(build_config({}), capture, str(NDMJOB))
    assert analysis.verdict == "inconclusive"
    note = inconclusive_note(analysis)
    assert note.startswith("In the sessions judged no error was found, but the capture set "
                           "holds what may be another job that could not be judged"), note


def test_a_session_that_started_no_job_beside_tls_is_no_probe() -> None:
    """ndmjob's query session (a browse: its steps after the first not applicable, no
    probe) beside TLS on another agent's NDMP port: the note says a job beside the
    sessions judged could not be, not that the capture holds probes only (it did, of a
    capture whose no_control_session names the TLS connection: finalread56a)."""
    from flowcheck.report.verdict_notes import inconclusive_note

    query = CAPTURES / "ndmjob-nojob" / "C-v2-query.pcap"
    values = load_file(query.with_suffix(".toml"))  # profile ndmp: the job's own
    config = build_config({**values, "remote_agents": [*values["remote_agents"], "10.77.0.2"]})
    analysis = _analysis(config, str(query),
                         str(CAPTURES / "trial23-other-protocol" / "tls-on-ndmp-port.pcap"))
    assert analysis.verdict == "inconclusive"
    [session] = [s for s in analysis.sessions if not s.side]
    assert {step.status for step in session.steps[1:]} == {"not_applicable"}
    note = inconclusive_note(analysis)
    assert "probes" not in note and "another job that could not be judged" in note, note
