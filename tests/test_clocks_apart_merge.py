"""Two hosts' own packets merged by time, their clocks apart (flowcheck.sessions.clock_apart).

captures/ndmjob/v4-backup.pcap (a good NDMP v4 three-way backup: DATA_CONNECT announces
the media server's mover endpoint, the agent connects to it) split by sender, as each
host's `tcpdump -Q out` (or a capture filtered `src host X`) holds it, the agent's
packets stamped `skew` seconds off, then merged by time (mergecap's order): one file,
two clocks, no packet in both to learn an offset from. A new-user trial: the agent's
clock 3 s behind read INCONCLUSIVE with capture_filtered ("The capture leaves out
connections the job made") and unannounced_connection for the job's own data
connection, whose SYN was stamped before the announcement; 0.01 s behind read the same.
The handshakes prove the clocks apart (the agent's SYN-ACK stamped before the SYN it
answers), so the data connection follows its announcement: PASS, every step ok.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import moved_back, stored_records, write_records

from flowcheck.config import build_config, load_file
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions.clock_apart import lag_proofs

STORED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
AGENT = bytes([10, 77, 0, 2])
MEDIA = "10.77.0.1"


def stamped_behind(connections: list[Connection]) -> dict[tuple[str, str], float]:
    """lag_proofs' lags alone: (host, peer) -> the largest lag in seconds proven (the
    lower bound; test_clocks_apart_close reads the upper bounds)."""
    return {pair: proof.lag for pair, proof in lag_proofs(connections).items()}


def _records() -> tuple[int, tuple]:
    return stored_records(STORED / "v4-backup.pcap")


def _merged(tmp_path: Path, skew: float) -> Path:
    """The capture with the agent's packets (IPv4 source 10.77.0.2) stamped `skew`
    seconds later (earlier when negative), then sorted by time as mergecap merges."""
    linktype, records = _records()
    micros = round(skew * 1_000_000)
    moved = [replace(r, micros=r.micros + micros) if r.data[26:30] == AGENT else r
             for r in records]
    moved.sort(key=lambda r: r.micros)  # stable: each host's own order kept
    return write_records(tmp_path / f"merged{skew}.pcap", linktype, moved)


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(STORED / "flowcheck.toml"))
    return analyze(read_traffic([str(path)], config), config)


@pytest.mark.parametrize("skew", [-3.0, -0.01])
def test_agent_clock_behind_reads_the_job(tmp_path: Path, skew: float) -> None:
    result = _analyze(_merged(tmp_path, skew))
    codes = {f.code for f in result.findings}
    assert "capture_filtered" not in codes
    assert "unannounced_connection" not in codes
    assert "announced_not_used" not in codes
    assert result.verdict == "pass"
    (session,) = result.sessions
    assert [s.status for s in session.steps] == ["ok"] * len(session.steps)
    (ann,) = [a for a in session.announced if a.message.endswith("DATA_CONNECT")]
    data = next(c for c in result.traffic.connections if c.uid == ann.used_by)
    # The job's data connection, stamped before the announcement on the agent's clock.
    assert (data.orig_h, data.resp_h, data.resp_p) == ("10.77.0.2", MEDIA, ann.port)
    assert data.ts < ann.ts


def test_agent_clock_ahead_unchanged(tmp_path: Path) -> None:
    """Stamped later, the data connection follows its announcement anyway: PASS."""
    result = _analyze(_merged(tmp_path, 3.0))
    assert result.verdict == "pass"
    assert not {f.code for f in result.findings} & {"capture_filtered", "announced_not_used"}


def _conn(**fields: object) -> Connection:
    base: dict[str, object] = dict(uid="C1", orig_h=MEDIA, orig_p=5001, resp_h="10.77.0.2",
                                   resp_p=10000, ts=100.0)
    return Connection(**{**base, **fields})


def test_stamped_behind_proofs() -> None:
    """Each proof names the side stamped behind, by the largest lag; jitter is none."""
    synack_first = _conn(syn_ts=100.0, synack_ts=97.0, syn_frames=[2], synack_frames=[1])
    data_first = _conn(uid="C2", syn_ts=100.0, synack_ts=104.0, syn_frames=[1],
                       synack_frames=[6], orig_first_data=(5, 102.5))
    jitter = _conn(uid="C3", syn_ts=100.0, synack_ts=99.998, syn_frames=[2],
                   synack_frames=[1])
    in_order = _conn(uid="C4", syn_ts=100.0, synack_ts=100.001, syn_frames=[1],
                     synack_frames=[2], orig_first_data=(5, 100.002))
    assert stamped_behind([synack_first]) == {("10.77.0.2", MEDIA): 3.0}
    assert stamped_behind([data_first]) == {(MEDIA, "10.77.0.2"): 1.5}
    assert stamped_behind([jitter, in_order]) == {}
    fast_open = _conn(uid="C5", syn_ts=100.0, synack_ts=100.2, syn_frames=[5],
                      synack_frames=[6], orig_first_data=(5, 100.0))  # data in the SYN
    assert stamped_behind([fast_open]) == {}
    # Stamped the other way round from the file's order: one clock set back between
    # them (the sniffer writes packets as it sees them), no two clocks.
    set_back = _conn(uid="C6", syn_ts=100.0, synack_ts=97.0, syn_frames=[1],
                     synack_frames=[2])
    data_set_back = _conn(uid="C7", syn_ts=100.0, synack_ts=104.0, syn_frames=[1],
                          synack_frames=[2], orig_first_data=(3, 102.5))
    assert stamped_behind([set_back, data_set_back]) == {}


def test_answer_stamped_after_the_close_is_no_late_accept(tmp_path: Path) -> None:
    """The agent's clock 10 s behind: its data connection's SYN-ACK (the media server's
    clock) is stamped after the agent's FIN of the control connection, yet the agent's
    data was written before that SYN-ACK, so it was answered in time: the job's data
    connection, not "unanswered while the job ran, its SYN retry answered" (the words
    before). The control connection's close, compared across the two clocks, still
    misreads (CHANGELOG: left)."""
    result = _analyze(_merged(tmp_path, -10.0))
    codes = {f.code for f in result.findings}
    assert not codes & {"data_unanswered", "announced_not_used", "capture_filtered",
                        "unannounced_connection"}
    (session,) = result.sessions
    (ann,) = [a for a in session.announced if a.message.endswith("DATA_CONNECT")]
    assert ann.used_by in session.data_connections


def _ports(data: bytes, sport: int, dport: int, flags: int) -> bytes:
    """An Ethernet IPv4 TCP frame with other ports and TCP flags (no checksum kept:
    flowcheck checks none)."""
    tcp = 14 + (data[14] & 0x0F) * 4
    return (data[:tcp] + sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
            + data[tcp + 4:tcp + 13] + bytes([flags]) + data[tcp + 14:])


def _assert_probe_unannounced(result: Analysis) -> None:
    """One clock read as one: no lag proven, the refused probe before the job an
    unannounced_connection (not the job's data connection: no data_refused), PASS with
    every step ok."""
    assert stamped_behind(result.traffic.connections) == {}
    assert "data_refused" not in {f.code for f in result.findings}
    assert result.verdict == "pass"
    (session,) = result.sessions
    assert [s.status for s in session.steps] == ["ok"] * len(session.steps)
    (probed,) = [f for f in result.findings if f.code == "unannounced_connection"]
    assert "refused" in probed.message


def test_one_clock_set_back_proves_no_clocks_apart(tmp_path: Path) -> None:
    """One capture point whose clock was set back 30 s between the control connection's
    SYN and SYN-ACK (capture_clock_stepped), and a probe of the agent's to the mover's
    port (SYN, RST) 40 s before, the file's first packets: the SYN-ACK stamped before
    its SYN but written after it proves no clock apart, so the probe, stamped before the
    announcement however the clock went, is not the job's data connection (fc516c9f
    took it so, a 30 s lag: FAIL data_refused, step 3 'refused' beside a good job).
    Read as without the step: PASS, the probe an unannounced_connection."""
    linktype, records = _records()
    syn, synack = records[11], records[12]  # the job's data connection's, 6015 -> 5014
    start = records[0].micros
    probe = [replace(syn, data=_ports(syn.data, 6014, 5014, 0x02), micros=start - 40_000_000),
             replace(synack, data=_ports(synack.data, 5014, 6014, 0x14),
                     micros=start - 40_000_000 + 20)]
    path = write_records(tmp_path / "set-back.pcap", linktype,
                         probe + moved_back(list(records), 1, 30_000_000))
    result = _analyze(path)
    assert "capture_clock_stepped" in {f.code for f in result.findings}
    _assert_probe_unannounced(result)


def test_a_lost_syn_resent_proves_no_clocks_apart(tmp_path: Path) -> None:
    """One capture point: the sniffer lost the control connection's first SYN, captured
    its SYN-ACK (then lost on the way back to the media server), and the SYN resent 1 s
    later is written after that SYN-ACK, then answered again: SYN-ACK, SYN, SYN-ACK. The
    first SYN-ACK, stamped and written 1 s before the (resent) SYN, looked like the agent
    stamped 1 s behind (review 51c), and a refused probe of the agent's to the mover's
    port 0.5 s before the DATA_CONNECT became the job's data connection (FAIL
    data_refused). The second SYN-ACK shows the agent answering the SYN in order on one
    clock: no lag, the probe an unannounced_connection, PASS."""
    linktype, records = _records()
    synack = records[1]  # the control connection's (5081 -> 10000); its SYN, records[0], lost
    data_syn, data_synack = records[11], records[12]  # the data connection's
    later = [replace(r, micros=r.micros + 1_000_000) for r in records]  # from the resent SYN on
    announce = later[10].micros  # the DATA_CONNECT request
    probe = [replace(data_syn, data=_ports(data_syn.data, 6014, 5014, 0x02),
                     micros=announce - 500_000),
             replace(data_synack, data=_ports(data_synack.data, 5014, 6014, 0x14),
                     micros=announce - 500_000 + 20)]
    path = write_records(tmp_path / "lost-syn.pcap", linktype,
                         [synack, *probe, *later])
    result = _analyze(path)
    control = next(c for c in result.traffic.connections if c.resp_p == 10000)
    assert control.synack_frames[0] < control.syn_frames[0]  # the ordering said above
    _assert_probe_unannounced(result)


def test_one_clock_in_the_pairs_other_handshake() -> None:
    """A SYN-ACK written before its SYN proves the responder behind unless the same
    host pair shows the responder answering a SYN in order (another connection, or the
    same one's SYN-ACK after its last SYN); the other direction's proof stays."""
    synack_first = _conn(syn_ts=100.0, synack_ts=97.0, syn_frames=[2], synack_frames=[1])
    other = _conn(uid="C2", orig_p=5002, syn_ts=110.0, synack_ts=110.001, syn_frames=[10],
                  synack_frames=[11])
    resent = _conn(uid="C3", syn_ts=101.0, synack_ts=100.0, syn_frames=[21],
                   synack_frames=[20, 22])
    assert stamped_behind([synack_first, other]) == {}
    assert stamped_behind([resent]) == {}
    # The peer answering in order says nothing of the responder's stamps.
    reverse = _conn(uid="C4", orig_h="10.77.0.2", resp_h=MEDIA, syn_ts=110.0,
                    synack_ts=110.001, syn_frames=[10], synack_frames=[11])
    assert stamped_behind([synack_first, reverse]) == {("10.77.0.2", MEDIA): 3.0}


def test_a_resent_synack_keeps_the_clocks_apart(tmp_path: Path) -> None:
    """The agent's clock 0.3 s behind (two hosts' own captures merged), and the media
    server's ACK of the control connection's SYN-ACK lost on the way: the agent resent
    its SYN-ACK 1 s later (its retransmission timeout, RFC 6298), stamped 0.7 s after the
    SYN on the media server's clock. SYN-ACK, SYN, SYN-ACK, as a lost SYN writes on one
    clock (test_a_lost_syn_resent_proves_no_clocks_apart): that handshake proves no lag
    and disproves none, so the lag the media server's port check of the agent before
    the job proves stands, and the job's data connection, stamped before the
    DATA_CONNECT, follows it: PASS (12e5e5b0 took the resent SYN-ACK as the agent
    answering in order and dropped that lag: capture_filtered and
    unannounced_connection; review 51d). The data connection's own proof, the agent's
    first data 5 ms after the mover's SYN-ACK, is too loose a bound to cover its SYN."""
    linktype, records = _records()
    second = 1_000_000
    # The media server's port check of the agent's before the job (SYN, SYN-ACK, RST),
    # 0.5 s before: its handshake proves the agent 0.3 s behind.
    check = [replace(records[0], data=_ports(records[0].data, 5080, 10000, 0x02),
                     micros=records[0].micros - 500_000),
             replace(records[1], data=_ports(records[1].data, 10000, 5080, 0x12),
                     micros=records[1].micros - 500_000),
             replace(records[2], data=_ports(records[2].data, 5080, 10000, 0x04),
                     micros=records[2].micros - 500_000)]
    resent = [*check, records[0], records[1], records[2],
              replace(records[1], micros=records[1].micros + second),
              replace(records[2], micros=records[2].micros + second),
              *(replace(r, micros=r.micros + second) for r in records[3:])]
    skew = -300_000
    merged = sorted((replace(r, micros=r.micros + skew) if r.data[26:30] == AGENT else r
                     for r in resent), key=lambda r: r.micros)
    result = _analyze(write_records(tmp_path / "resent-synack.pcap", linktype, merged))
    control = next(c for c in result.traffic.connections if c.orig_p == 5081)
    assert control.synack_frames[0] < control.syn_frames[0] < control.synack_frames[-1]
    assert ("10.77.0.2", MEDIA) in stamped_behind(result.traffic.connections)
    codes = {f.code for f in result.findings}
    assert not codes & {"capture_filtered", "unannounced_connection", "announced_not_used"}
    assert result.verdict == "pass"
    (session,) = [s for s in result.sessions if s.control_uid == control.uid]
    assert [s.status for s in session.steps] == ["ok"] * len(session.steps)
    (ann,) = [a for a in session.announced if a.message.endswith("DATA_CONNECT")]
    assert ann.used_by in session.data_connections


def test_an_ambiguous_handshake_proves_and_disproves_nothing() -> None:
    """A SYN-ACK written before the first SYN and another after the last one (a lost
    SYN resent on one clock, or a SYN-ACK resent on two): no lag of its own, and no
    cancelling another handshake's."""
    resent = _conn(syn_ts=100.0, synack_ts=99.7, syn_frames=[2], synack_frames=[1, 5])
    data_first = _conn(uid="C2", orig_h="10.77.0.2", resp_h=MEDIA, syn_ts=100.0,
                       synack_ts=100.3, syn_frames=[10], synack_frames=[13],
                       orig_first_data=(12, 100.001))
    assert stamped_behind([resent]) == {}
    assert stamped_behind([resent, data_first]) == {("10.77.0.2", MEDIA): pytest.approx(0.299)}
    # A handshake in order still cancels either proof.
    in_order = _conn(uid="C3", orig_p=5003, syn_ts=110.0, synack_ts=110.001,
                     syn_frames=[20], synack_frames=[21])
    assert stamped_behind([resent, data_first, in_order]) == {}


def test_a_slow_answer_in_order_keeps_a_smaller_lag() -> None:
    """The agent 10 ms behind (two clocks): one handshake's SYN-ACK, the agent's answer
    slower than the lag (queued 34 ms), is stamped 4 ms after its SYN and the media
    server ACKed it 30 ms after that SYN on its own clock (Connection.rtt, SYN to ACK,
    both the originator's): a SYN-ACK sent at most 30 - 4 = 26 ms behind the stamps,
    which a 10 ms lag fits, so that handshake cancels no lag below 26 ms. One clock
    writes the ACK right after the SYN-ACK (rtt 4.2 ms): no lag above 0.2 ms fits."""
    synack_first = _conn(syn_ts=100.0, synack_ts=99.99, syn_frames=[2], synack_frames=[1])
    slow = _conn(uid="C2", orig_p=5002, syn_ts=110.0, synack_ts=110.004, syn_frames=[10],
                 synack_frames=[11], rtt=0.030)
    assert stamped_behind([synack_first, slow]) == {("10.77.0.2", MEDIA): pytest.approx(0.01)}
    one_clock = replace(slow, rtt=0.0042)
    assert stamped_behind([synack_first, one_clock]) == {}
    assert stamped_behind([synack_first, replace(slow, rtt=None)]) == {}  # no bound known


def test_a_slow_port_check_keeps_a_small_lag(tmp_path: Path) -> None:
    """The agent's clock 10 ms behind (two hosts' own captures merged), and a port check
    of the media server's to the agent before the job (SYN, SYN-ACK, ACK, RST) that the
    agent answered 20 ms late: its SYN-ACK is stamped 10 ms after the SYN, in order,
    and ACKed 20 ms after it. That handshake fits the lag the control handshake proves,
    so the job's data connection, stamped before the DATA_CONNECT, follows it: PASS
    (12e5e5b0 took any SYN-ACK in order as the agent on its peer's clock: no lag,
    capture_filtered and unannounced_connection; review 51d)."""
    linktype, records = _records()
    syn, synack, ack = records[0], records[1], records[2]
    at = syn.micros - 500_000
    check = [replace(syn, data=_ports(syn.data, 5080, 10000, 0x02), micros=at),
             replace(synack, data=_ports(synack.data, 10000, 5080, 0x12), micros=at + 20_000),
             replace(ack, data=_ports(ack.data, 5080, 10000, 0x10), micros=at + 20_014),
             replace(ack, data=_ports(ack.data, 5080, 10000, 0x14), micros=at + 20_030)]
    merged = sorted((replace(r, micros=r.micros - 10_000) if r.data[26:30] == AGENT else r
                     for r in [*check, *records]), key=lambda r: r.micros)
    result = _analyze(write_records(tmp_path / "slow-check.pcap", linktype, merged))
    probe = next(c for c in result.traffic.connections if c.orig_p == 5080)
    assert probe.syn_frames[0] < probe.synack_frames[0] and probe.rtt is not None
    assert ("10.77.0.2", MEDIA) in stamped_behind(result.traffic.connections)
    codes = {f.code for f in result.findings}
    assert not codes & {"capture_filtered", "unannounced_connection", "announced_not_used"}
    assert result.verdict == "pass"
    control = next(c for c in result.traffic.connections if c.orig_p == 5081)
    (session,) = [s for s in result.sessions if s.control_uid == control.uid]
    assert [s.status for s in session.steps] == ["ok"] * len(session.steps)
