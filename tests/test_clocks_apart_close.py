"""The control connection's close read across two clocks (flowcheck.verify.two_clocks).

Stored captures split by sender, as each host's `tcpdump -Q out` (or a capture filtered
`src host X`) holds them, the agent's half stamped `skew` seconds off (`editcap -t`),
merged by time as `mergecap` merges: one file, two clocks, no packet in both. With the
agent's clock 3.5 s or more behind, the agent's close of the control connection of
ndmjob's good v4 backup is stamped (and written) before the media server's
DATA_START_BACKUP, and flowcheck read FAIL `control_closed` ("closed by the agent while
the job was running") beside a good job (session 51's note). The handshakes prove the
lag's bounds (sessions.clock_apart.lag_proofs): a close stamped within them of the job's
start or the other side's halts is not read; `capture_clocks_apart` says why and the
data step is unknown. A close farther from them than the lag is read as on one clock (an
agent killed 3 s into its job, merged 0.5 s or 2 s apart), and failures read within one
host's packets stay (data SYNs unanswered, a range too small).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import stored_records, write_records

from flowcheck.config import build_config, load_file
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions.clock_apart import lag_proofs

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
NDMJOB = CAPTURES / "ndmjob"
AGENT = "10.77.0.2"


def _merged(tmp_path: Path, capture: Path, agent: str, skew: float) -> Path:
    """`capture` (Ethernet, IPv4) with the packets whose IPv4 source is `agent` stamped
    `skew` seconds later (earlier when negative), sorted by time as mergecap merges
    (stable: each host's own order kept)."""
    linktype, records = stored_records(capture)
    source = bytes(int(part) for part in agent.split("."))
    micros = round(skew * 1_000_000)
    moved = sorted((replace(r, micros=r.micros + micros) if r.data[26:30] == source else r
                    for r in records), key=lambda r: r.micros)
    return write_records(tmp_path / f"{capture.stem}{skew}.pcap", linktype, moved)


def _analyze(path: Path, config: Path) -> Analysis:
    settings = build_config(load_file(config))
    return analyze(read_traffic([str(path)], settings), settings)


@pytest.mark.parametrize(("name", "skew"), [("v4-backup", -3.5), ("v4-backup", -10.0),
                                            ("v4-backup", -3600.0), ("v2-backup", -60.0)])
def test_a_close_across_two_clocks_is_not_read(tmp_path: Path, name: str,
                                               skew: float) -> None:
    """The agent's clock behind by more than the job's span: its FIN is stamped before
    the DATA_START_BACKUP that truly preceded it. Not control_closed (FAIL before):
    INCONCLUSIVE, capture_clocks_apart naming both hosts, the lag and the shift."""
    result = _analyze(_merged(tmp_path, NDMJOB / f"{name}.pcap", AGENT, skew),
                      NDMJOB / "flowcheck.toml")
    codes = {f.code for f in result.findings}
    assert "control_closed" not in codes
    assert not any(f.severity == "error" for f in result.findings)
    assert result.verdict == "inconclusive"
    (clocks,) = [f for f in result.findings if f.code == "capture_clocks_apart"]
    assert clocks.severity == "warning"
    lag = -skew
    assert f"10.77.0.2's packets are stamped at least {lag:.3f} s behind 10.77.0.1's" \
        in clocks.message
    assert f"editcap -t {lag:.3f}" in clocks.fix
    control = next(c for c in result.traffic.connections if c.resp_p == 10000)
    assert control.fin_frames[0] in clocks.frames
    (session,) = result.sessions
    assert [s.status for s in session.steps][:-1] == ["ok"] * (len(session.steps) - 1)
    assert session.steps[-1].status == "unknown"
    assert "capture_clocks_apart" in session.steps[-1].detail
    assert "capture_clocks_apart" in session.steps[-1].cites  # review63c: () before
    proof = lag_proofs(result.traffic.connections)[(AGENT, "10.77.0.1")]
    assert proof.lag == pytest.approx(lag, abs=0.001) and proof.upper >= proof.lag


@pytest.mark.parametrize("skew", [-2.0, -0.5, -0.01, 0.5, 3.5, 3600.0])
def test_a_good_job_within_the_lag_or_ahead_passes(tmp_path: Path, skew: float) -> None:
    """Behind by less than the time from the job's start to the close, or ahead (its
    FIN stamped later still): the close follows the job's end on either clock. PASS,
    nothing said of the clocks."""
    result = _analyze(_merged(tmp_path, NDMJOB / "v4-backup.pcap", AGENT, skew),
                      NDMJOB / "flowcheck.toml")
    assert result.verdict == "pass"
    assert not {f.code for f in result.findings} & {"capture_clocks_apart", "control_closed"}


@pytest.mark.parametrize("skew", [-0.5, -2.0])
def test_a_good_backup_exec_job_below_3_s_is_no_failure(tmp_path: Path, skew: float) -> None:
    """lab/clean-3-resources (a good 3-resource Backup Exec backup) merged with the
    agent's clock 0.5 s or 2 s behind: its last resource's NOTIFY_DATA_HALTED, stamped on
    the agent's clock, lands before that resource's DATA_START_BACKUP on the media
    server's, so the job read as running when the agent closed: FAIL control_closed.
    Now that order is not read: no error, capture_clocks_apart, step 5 unknown."""
    lab = CAPTURES / "lab"
    result = _analyze(_merged(tmp_path, lab / "clean-3-resources.pcap", AGENT, skew),
                      lab / "clean-3-resources.toml")
    assert not any(f.severity == "error" for f in result.findings)
    assert result.verdict == "inconclusive"
    assert "capture_clocks_apart" in {f.code for f in result.findings}
    (session,) = result.sessions
    assert [s.status for s in session.steps] == ["ok", "ok", "ok", "ok", "unknown"]


@pytest.mark.parametrize("skew", [0.5, 3.5, 3600.0])
def test_a_good_backup_exec_job_with_the_agent_ahead_passes(tmp_path: Path,
                                                             skew: float) -> None:
    """The same backup with the agent's clock ahead: each data connection's SYN-ACK,
    on the agent's clock, is stamped after the media server's FIN of the control
    connection, so each read as a listener's answer to a retry after the job
    (after_close's late accept: INCONCLUSIVE, capture_filtered). The callback's
    handshake proves the media server behind: each SYN-ACK may have come before the
    close, and the job's data connections are its own. PASS, every step ok."""
    lab = CAPTURES / "lab"
    result = _analyze(_merged(tmp_path, lab / "clean-3-resources.pcap", AGENT, skew),
                      lab / "clean-3-resources.toml")
    assert result.verdict == "pass"
    assert not {f.code for f in result.findings} & {"capture_filtered", "capture_clocks_apart"}
    (session,) = result.sessions
    assert [s.status for s in session.steps] == ["ok"] * 5
    assert len(session.data_connections) == 3


@pytest.mark.parametrize("skew", [-2.0, -0.5, 0.5])
def test_a_killed_agent_still_fails(tmp_path: Path, skew: float) -> None:
    """ndmjob-kill/agent-kill9-media (the agent's ndmjob SIGKILLed 3 s into its backup),
    merged two clocks apart by less than the time from DATA_START_BACKUP to the agent's
    FIN: that order holds on either clock, the later DATA_GET_STATE its closed socket
    reset changes nothing: FAIL control_closed, as captured on one clock."""
    kill = CAPTURES / "ndmjob-kill"
    result = _analyze(_merged(tmp_path, kill / "agent-kill9-media.pcap.gz", AGENT, skew),
                      kill / "agent-kill9-media.toml")
    codes = {f.code for f in result.findings}
    assert "control_closed" in codes and "capture_clocks_apart" not in codes
    assert result.verdict == "fail"


@pytest.mark.parametrize("skew", [-3.5, -3600.0])
def test_unanswered_data_syns_still_fail(tmp_path: Path, skew: float) -> None:
    """A true failure read within one connection: the media server's firewall dropped
    the agent's data SYNs (ndmjob/v4-backup-media-firewall-drop), merged with the
    agent's clock far behind. FAIL data_unanswered, as on one clock."""
    result = _analyze(_merged(tmp_path, NDMJOB / "v4-backup-media-firewall-drop.pcap",
                              AGENT, skew), NDMJOB / "flowcheck.toml")
    codes = {f.code for f in result.findings}
    assert "data_unanswered" in codes
    assert result.verdict == "fail"


@pytest.mark.parametrize("skew", [-0.5, -2.0, -3.5])
def test_a_routed_job_keeps_its_own_failure(tmp_path: Path, skew: float) -> None:
    """field38-matrix/range-small-listen-unanswered-snap96 (a Backup Exec job through a
    router, the agent 10.77.1.2's range one port short: step_missing, range_too_small),
    merged with the agent's clock behind: its close was read control_closed below 3 s
    too (0.5 s, 2 s). Now that close is not read, and the true failure still fails."""
    matrix = CAPTURES / "field38-matrix"
    name = "range-small-listen-unanswered-snap96"
    result = _analyze(_merged(tmp_path, matrix / f"{name}.pcap", "10.77.1.2", skew),
                      matrix / f"{name}.toml")
    codes = {f.code for f in result.findings}
    assert "control_closed" not in codes
    assert {"capture_clocks_apart", "step_missing", "range_too_small"} <= codes
    assert result.verdict == "fail"
    (session,) = result.sessions
    assert session.steps[-1].status == "unknown"


def test_lag_proofs_bound_the_lag() -> None:
    """A SYN-ACK stamped 3 s before its SYN: the responder is at least 3 s behind, and
    at most that plus the originator's round trip to its ACK (1 s when not captured).
    The originator's data 1.5 s before the SYN-ACK: at least 1.5 s behind, at most the
    SYN-ACK's stamp less the SYN's (4 s). The pair's bound is the least of its proofs'."""
    base: dict[str, object] = dict(orig_h="10.77.0.1", orig_p=5001, resp_h=AGENT,
                                   resp_p=10000, ts=100.0)
    synack_first = Connection(uid="C1", syn_ts=100.0, synack_ts=97.0, syn_frames=[2],
                              synack_frames=[1], rtt=0.004, **base)
    proof = lag_proofs([synack_first])[(AGENT, "10.77.0.1")]
    assert (proof.lag, proof.upper, proof.frames) == (3.0, pytest.approx(3.004), (2, 1))
    unknown_rtt = replace(synack_first, rtt=None)
    assert lag_proofs([unknown_rtt])[(AGENT, "10.77.0.1")].upper == 4.0
    # Another handshake: at least 2.999 s, at most 3.001 s; the pair: 3.0 to 3.001 s.
    tighter = replace(synack_first, uid="C2", orig_p=5002, syn_ts=200.0, synack_ts=197.001,
                      rtt=0.002)
    both = lag_proofs([synack_first, tighter])[(AGENT, "10.77.0.1")]
    assert (both.lag, both.upper, both.uid) == (3.0, pytest.approx(3.001), "C1")
    data_first = Connection(uid="C3", syn_ts=100.0, synack_ts=104.0, syn_frames=[1],
                            synack_frames=[6], orig_first_data=(5, 102.5), **base)
    proof = lag_proofs([data_first])[("10.77.0.1", AGENT)]
    assert (proof.lag, proof.upper, proof.frames) == (1.5, 4.0, (6, 5))


@pytest.mark.parametrize("skew", [3.5, -3.5, -10.0])
def test_a_port_reused_reads_on_its_hosts_clock(tmp_path: Path, skew: float) -> None:
    """ndmjob/v4-three-resources: the agent binds port 6015 again 3.1 s after its last
    connection there (port_reused_within_hold, warning). Merged two clocks apart, each
    connection's span mixed the clocks (its first packet the media server's SYN, its
    last the agent's, or the other way round), the gap read negative and nothing was
    said. The port's use is read on its host's own packets: the same words as on one
    clock."""
    config = NDMJOB / "flowcheck.toml"
    one_clock = _analyze(NDMJOB / "v4-three-resources.pcap", config)
    (expected,) = [f for f in one_clock.findings if f.code == "port_reused_within_hold"]
    result = _analyze(_merged(tmp_path, NDMJOB / "v4-three-resources.pcap", AGENT, skew),
                      config)
    (reused,) = [f for f in result.findings if f.code == "port_reused_within_hold"]
    assert reused.message == expected.message


@pytest.mark.parametrize("skew", [-3600.0, -3.5, 3.5])
def test_a_callback_ack_dropped_still_fails(tmp_path: Path, skew: float) -> None:
    """lab/callback-ack-dropped: the media server's input drops the agent's packets on
    the callback after its SYN, so the media server resends its SYN-ACK (handshake
    incomplete, FAIL). Merged with the agent's clock an hour behind, the agent's SYN,
    ACK and FIN were written before the media server's SYN-ACKs: "established", PASS
    (a false PASS); 3.5 s ahead, the SYN-ACKs first: INCONCLUSIVE. The clocks proven
    apart, the SYN-ACKs beyond one per SYN are the listener's resends whatever the
    file's order: FAIL handshake_incomplete, as on one clock."""
    lab = CAPTURES / "lab"
    result = _analyze(_merged(tmp_path, lab / "callback-ack-dropped.pcap", AGENT, skew),
                      lab / "callback-ack-dropped.toml")
    assert result.verdict == "fail"
    (incomplete,) = [f for f in result.findings if f.code == "handshake_incomplete"]
    callback = next(c for c in result.traffic.connections if c.resp_p == 5001)
    assert callback.clocks_apart and incomplete.uid == callback.uid
    assert "resent its SYN-ACK 2 times" in incomplete.message


@pytest.mark.parametrize("skew", [0.5, 3600.0])
def test_a_browse_with_the_agent_ahead_passes(tmp_path: Path, skew: float) -> None:
    """lab/browse-only (a Backup Exec browse: CONFIG_GET_* after authenticating) with
    the agent's clock ahead: its requests, on the media server's clock, were written
    before the agent's reply accepting CONNECT_CLIENT_AUTH, and the browse read
    "authenticated and closed without a single request" (control_closed_after_auth,
    INCONCLUSIVE). The requests' own sequence numbers follow the CONNECT_CLIENT_AUTH
    request's: PASS, a browse."""
    lab = CAPTURES / "lab"
    result = _analyze(_merged(tmp_path, lab / "browse-only.pcap", AGENT, skew),
                      lab / "browse-only.toml")
    assert result.verdict == "pass"
    assert "control_closed_after_auth" not in {f.code for f in result.findings}
    (session,) = result.sessions
    assert session.kind == "browse" and session.ended_before_job is None


def test_a_resent_syn_keeps_the_upper_bound() -> None:
    """The media server's first SYNs lost on the way (a listener's queue full): the
    agent's SYN-ACK answers the SYN resent 7 s after the first, which the agent, 10 s
    behind, stamps 3 s before that first SYN. The proof's lag runs from the first SYN
    (3 s) and Connection.rtt from the last one (4 ms): 3.004 s was no upper bound of a
    10 s lag. The SYN-ACK came before the media server's first data and its last packet:
    at most 10.01 s (its first request at 107.01), so a later close still counts."""
    base: dict[str, object] = dict(orig_h="10.77.0.1", orig_p=5001, resp_h=AGENT,
                                   resp_p=10000, ts=100.0)
    resent = Connection(uid="C1", syn_ts=100.0, synack_ts=97.0, syn_frames=[2, 3, 4, 5],
                        synack_frames=[1], syn_retries=3, rtt=0.004, established=True,
                        orig_first_data=(8, 107.01), orig_last_ts=200.0, **base)
    proof = lag_proofs([resent])[(AGENT, "10.77.0.1")]
    assert (proof.lag, proof.upper) == (3.0, pytest.approx(10.01))
    # Never ACKed (no data): 1 s after its last SYN at most.
    unacked = replace(resent, established=False, rtt=None, orig_first_data=None,
                      orig_last_ts=107.0)
    assert lag_proofs([unacked])[(AGENT, "10.77.0.1")].upper == pytest.approx(11.0)


def test_data_before_the_answer_without_its_syn_has_no_upper_bound() -> None:
    """Two hosts' own captures merged, the agent's own capture started after its data
    connection's SYN (and its clock 10 s behind): its first data captured left 2.5 s
    after the media server's SYN-ACK came, so it is stamped 7.5 s before that SYN-ACK.
    At least 7.5 s behind, and nothing in the capture bounds the lag from above: the
    SYN-ACK's stamp less the data's plus 1 s (8.5 s) was taken for a bound of a 10 s
    lag."""
    late_start = Connection(uid="C4", orig_h=AGENT, orig_p=6015, resp_h="10.77.0.1",
                            resp_p=5014, ts=92.5, synack_ts=100.0, synack_frames=[7],
                            orig_first_data=(5, 92.5))
    proof = lag_proofs([late_start])[(AGENT, "10.77.0.1")]
    assert proof.lag == 7.5 and math.isinf(proof.upper)
    # Another handshake of the pair bounds it: the least bound holds.
    bounded = Connection(uid="C5", orig_h="10.77.0.1", orig_p=5001, resp_h=AGENT,
                         resp_p=10000, ts=100.0, syn_ts=100.0, synack_ts=90.0,
                         syn_frames=[2], synack_frames=[1], rtt=0.004)
    both = lag_proofs([late_start, bounded])[(AGENT, "10.77.0.1")]
    assert (both.lag, both.upper) == (10.0, pytest.approx(10.004))


@pytest.mark.parametrize("resent", [(3,), (7, 3, 1)])
def test_a_resent_control_syn_keeps_the_jobs_data_connection(tmp_path: Path,
                                                             resent: tuple[int, ...]) -> None:
    """ndmjob/v4-backup merged with the agent's clock 4.5 s or 10 s behind, the media
    server's control SYN sent 3 s (or 1, 3 and 7 s) before the one the agent answered:
    the control handshake proves the agent only 1.5 s (3 s) behind, the data connection
    (its first data 5.5 ms after the SYN-ACK) 5.5 ms less than the lag, and the agent's
    data SYN, stamped the whole lag before the DATA_CONNECT, fell outside that lag and
    5 ms: FAIL announced_not_used and unannounced_connection beside the good job. The
    match now allows the lag's upper bound: as without the resends, INCONCLUSIVE, the
    close unread (capture_clocks_apart), the data connection the job's."""
    skew = -4.5 if resent == (3,) else -10.0
    linktype, records = stored_records(NDMJOB / "v4-backup.pcap")
    syn = records[0]
    lost = [replace(syn, micros=syn.micros - seconds * 1_000_000) for seconds in resent]
    path = write_records(tmp_path / "resent.pcap", linktype, [*lost, *records])
    result = _analyze(_merged(tmp_path, path, AGENT, skew), NDMJOB / "flowcheck.toml")
    codes = {f.code for f in result.findings}
    assert not codes & {"announced_not_used", "unannounced_connection"}
    assert "capture_clocks_apart" in codes and result.verdict == "inconclusive"
    (session,) = result.sessions
    assert len(session.data_connections) == 1
    assert [s.status for s in session.steps][:-1] == ["ok"] * (len(session.steps) - 1)
    # The true lag within the pair's bounds (the upper one fell below 10 s, 9.994 s, the
    # control handshake's bound taken from its first SYN: test_a_resent_syn_keeps_...).
    proof = lag_proofs(result.traffic.connections)[(AGENT, "10.77.0.1")]
    assert proof.lag <= -skew <= proof.upper


def test_the_words_give_how_far_apart_the_two_events_are_stamped(tmp_path: Path) -> None:
    """lab/clean-3-resources merged with the agent's clock 2 s behind: its close is
    stamped 1.952 s before the media server's last DATA_START_BACKUP, within the lag's
    bounds (2 to 3 s). The message and step 5 say how far apart, not "within that lag"
    after "at least 2.000 s" (a pair 2.5 s apart is read alike)."""
    lab = CAPTURES / "lab"
    result = _analyze(_merged(tmp_path, lab / "clean-3-resources.pcap", AGENT, -2.0),
                      lab / "clean-3-resources.toml")
    (clocks,) = [f for f in result.findings if f.code == "capture_clocks_apart"]
    words = ("is stamped on 10.77.0.2's clock 1.952 s before 10.77.0.1's packet at frame "
             "563, stamped on 10.77.0.1's, less than the lag may be: on one clock it may "
             "come before or after it")
    assert words in clocks.message and "the lag lies between 2.000 and 3.000 s" in clocks.message
    assert "1.952 s before 10.77.0.1's packet at frame 563, less than the lag may be " \
           "(capture_clocks_apart)" in result.sessions[0].steps[-1].detail


def test_the_sessions_and_checks_read_the_pipelines_lag_proofs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The proofs the pipeline found marking the connections (mark_clocks_apart over
    every connection) are the ones the sessions and the checks read
    (pipeline.Traffic.clock_lags -> build_sessions -> matching's windows;
    Context.proofs.clock_lags): lag_proofs runs once per analysis, over every connection
    (before, matching found them again over its controls and endpoints, the same
    connections, and verify.two_clocks a third time). The reading is the same: the close
    not read, capture_clocks_apart with the proven lag. Every module of flowcheck that
    holds lag_proofs is counted, so a new caller shows here."""
    import sys

    from flowcheck.sessions import clock_apart
    from flowcheck.verify import two_clocks  # noqa: F401  (loaded: counted below)

    calls: list[tuple[str, ...]] = []  # the uids each call was given
    real = clock_apart.lag_proofs

    def counted(connections: list[Connection]) -> dict:
        connections = list(connections)
        calls.append(tuple(c.uid for c in connections))
        return real(connections)

    holders = [module for name, module in list(sys.modules.items())
               if name.startswith("flowcheck") and getattr(module, "lag_proofs", None) is real]
    assert clock_apart in holders
    for module in holders:
        monkeypatch.setattr(module, "lag_proofs", counted)
    result = _analyze(_merged(tmp_path, NDMJOB / "v4-backup.pcap", AGENT, -3.5),
                      NDMJOB / "flowcheck.toml")
    (clocks,) = [f for f in result.findings if f.code == "capture_clocks_apart"]
    assert "10.77.0.2's packets are stamped at least 3.500 s behind" in clocks.message
    everything = tuple(c.uid for c in result.traffic.connections)
    assert calls == [everything], (calls, everything)
    assert result.traffic.clock_lags == real(result.traffic.connections)


def test_build_sessions_finds_the_lag_proofs_when_not_given(tmp_path: Path) -> None:
    """build_sessions without clock_lags (a caller other than the pipeline) finds the
    proofs itself, once: the sessions are those the pipeline's proofs give, and not those
    of no proof (matching's window reads them: the agent's data connection, stamped on
    its clock 3.5 s behind, before the announcement on the media server's)."""
    from flowcheck.profiles import load_profile
    from flowcheck.sessions import build_sessions

    settings = build_config(load_file(NDMJOB / "flowcheck.toml"))
    traffic = read_traffic([str(_merged(tmp_path, NDMJOB / "v4-backup.pcap", AGENT, -3.5))],
                           settings)
    assert traffic.clock_lags

    def data_of(clock_lags: dict | None) -> list[list[str]]:
        return [s.data_connections for s in build_sessions(
            traffic.connections, traffic.streams, settings, load_profile(settings.profile),
            clock_lags=clock_lags)]

    found = data_of(None)
    assert found == data_of(traffic.clock_lags) and found != data_of({})
    assert all(found)
