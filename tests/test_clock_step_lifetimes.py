"""Session lifetimes (flowcheck.sessions.lifetimes) across a clock set back.

Two three-way jobs of captures/ndmjob-threeway on the same hosts and mover endpoint
(tests/test_clock_step_three_way._second_job), the capture host's clock set back at
the first job's data SYN: the first job's data connection is stamped seconds before
its own control connection opened. A session's hosts are its own while it lives;
by plain timestamps its data connection fell before its life began, and the second
job's connection took the first job's DATA_CONNECT (capture_filtered,
announced_not_used). Compared in the capture's order (the file's write order, or
(clock epoch, time) where every stream of the capture host stepped back at once),
each job's data connection is within its own session's life and the set reads as
without the step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_factory import epb, idb, shb
from pcap_records import Record, read_records
from test_clock_step_three_way import (
    STORED,
    _analyze,
    _moved,
    _reading,
    _second_job,
    _steady,
    _unpacked,
)

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, file_order, read_traffic
from flowcheck.sessions.lifetimes import lifetimes

DMA = "10.77.0.1"


def _two_jobs(tmp_path: Path, version: str) -> tuple[Path, int]:
    """The capture of two jobs (one file, one interface) and its first job's data SYN
    frame (1-based)."""
    steady, frames = _steady(version)
    (listen,) = [a for s in steady.sessions for a in s.announced
                 if a.message.endswith("MOVER_LISTEN")]
    two = _second_job(_unpacked(tmp_path, version), listen.port, tmp_path / "two.pcap")
    return two, frames["data SYN"]


def _interfaces(path: Path, linktype: int, records: list[Record], blocks: int) -> Path:
    """The (Ethernet) records as a pcapng of two interfaces at `path`, the DMA's packets
    on one and the agents' on the other: in the records' order (blocks 0), or each
    interface's packets written `blocks` at a time, the two in turn (dumpcap's blocks:
    the file's order no event order)."""
    def sender(data: bytes) -> str:
        return ".".join(str(b) for b in data[26:30])

    streams: list[list[bytes]] = [[], []]
    written: list[bytes] = []
    for r in records:
        interface = 0 if sender(r.data) == DMA else 1
        block = epb(interface, r.micros / 1e6, r.data, wirelen=r.wirelen)
        (streams[interface] if blocks else written).append(block)
    for at in range(0, max(map(len, streams)), blocks or 1):
        written += streams[0][at:at + blocks] + streams[1][at:at + blocks]
    path.write_bytes(b"".join([shb(), idb(linktype), idb(linktype), *written]))
    return path


@pytest.mark.parametrize("version", ["v4", "v2"])
def test_two_jobs_read_the_same_with_both_streams_stepped(
        tmp_path: Path, version: str) -> None:
    """The two jobs' capture as a pcapng of two interfaces, both stepped back 2 s at the
    first job's data SYN (one host's clock: flowcheck.sources.clock_epochs), reads as
    the unstepped one: PASS, each job's data connection its own (fails with lifetimes
    by plain timestamps: capture_filtered, announced_not_used)."""
    two, syn = _two_jobs(tmp_path, version)
    linktype, records = read_records(two)
    steady_path = _interfaces(tmp_path / "steady.pcapng", linktype, records, 0)
    stepped_path = _interfaces(tmp_path / "stepped.pcapng", linktype,
                               read_records(_moved(two, syn, "2"))[1], 0)
    steady = _analyze(steady_path, version)
    stepped = _analyze(stepped_path, version)
    assert stepped.traffic.clock_epochs is not None
    assert file_order(stepped.traffic).frames
    assert steady.verdict == "pass"
    assert _reading(stepped) == _reading(steady)
    held = sorted(len(s.data_connections) for s in stepped.sessions)
    assert held == [0, 0, 1, 1]


@pytest.mark.parametrize(("version", "back"), [("v4", "2"), ("v2", "2"), ("v4", "30")])
def test_two_jobs_in_interface_blocks_read_the_same_with_the_clock_stepped(
        tmp_path: Path, version: str, back: str) -> None:
    """The two jobs' capture as a pcapng of two interfaces written 16 packets at a time
    in turn (dumpcap's blocks: its frames no event order), both stepped back `back` s at
    the first job's data SYN, read end to end as the unstepped one: PASS, each job's data
    connection its own job's, every announcement reached. The connection pools
    (sessions.pools) and the three-way halves (sessions.threeway) compare (clock epoch,
    time) as the lifetimes do: by plain timestamps the first job's data connection,
    stamped before its DATA_CONNECT, was left unmatched (FAIL, announced_not_used,
    capture_filtered), and the first job's MOVER_LISTEN reply, stamped after the second
    job's, was taken for the one the second job's DATA_CONNECT handed on (INCONCLUSIVE,
    capture_filtered). The sessions are numbered in that order too (by plain timestamps
    the second job's were S1 and S2)."""
    two, syn = _two_jobs(tmp_path, version)
    linktype, records = read_records(two)
    steady = _analyze(_interfaces(tmp_path / "steady.pcapng", linktype, records, 16),
                      version)
    stepped = _analyze(_interfaces(tmp_path / "stepped.pcapng", linktype,
                                   read_records(_moved(two, syn, back))[1], 16), version)
    assert stepped.traffic.clock_epochs is not None
    assert not file_order(stepped.traffic).frames
    assert steady.verdict == "pass"
    assert _reading(stepped) == _reading(steady)
    assert all(a.used_by for s in stepped.sessions for a in s.announced)
    # Job 2's ephemeral ports are job 1's moved by one (_second_job).
    by_uid = {c.uid: c for c in stepped.traffic.connections}
    control_port = {s.id: by_uid[s.control_uid].orig_p for s in stepped.sessions}
    data = sorted((c for c in by_uid.values() if c.role == "data"), key=lambda c: c.orig_p)
    assert len(data) == 2
    assert [control_port[c.session or ""] - min(control_port.values()) for c in data] \
        == [0, 1]
    # Numbered in (clock epoch, time) order: job 1's sessions first, as without the step.
    steady_of = {c.uid: c for c in steady.traffic.connections}
    assert [control_port[s.id] for s in stepped.sessions] == \
        [steady_of[s.control_uid].orig_p for s in steady.sessions]


@pytest.mark.parametrize("first", [True, False], ids=["stepped first", "stepped second"])
def test_two_jobs_stepped_in_one_file_read_the_same_beside_another_file(
        tmp_path: Path, first: bool) -> None:
    """The two jobs' capture (one file, one interface) stepped back 2 s at the first
    job's data SYN, given with ndmjob's v4 backup (another file, six days before): the
    set's files do not overlap in time, so each is merged whole after the other in its
    own write order, and its frames order the events as the file's alone do
    (ClockSteps.one_stream). Both jobs read as in the file alone: every announcement
    reached, each data connection its own job's, no announced_not_used (by time alone
    the set read FAIL, announced_not_used on both sessions of the first job)."""
    two, syn = _two_jobs(tmp_path, "v4")
    stepped = _moved(two, syn, "2")
    other = str(STORED.parent / "ndmjob" / "v4-backup.pcap")
    config = build_config(load_file(STORED / "C-v4-3way-bridge.toml"))
    traffic = read_traffic([str(stepped), other] if first else [other, str(stepped)],
                           config)
    analysis = analyze(traffic, config)
    assert file_order(traffic).frames
    assert analysis.verdict == "pass"
    assert "announced_not_used" not in {f.code for f in analysis.findings}
    by_uid = {c.uid: c for c in traffic.connections}
    jobs = [s for s in analysis.sessions if by_uid[s.control_uid].resp_h != "10.77.0.2"]
    assert len(jobs) == 4 and all(a.used_by for s in jobs for a in s.announced)
    control_port = {s.id: by_uid[s.control_uid].orig_p for s in jobs}
    data = sorted((c for c in by_uid.values() if c.role == "data"
                   and c.session in control_port), key=lambda c: c.orig_p)
    assert [control_port[c.session or ""] - min(control_port.values()) for c in data] \
        == [0, 1]


@pytest.mark.parametrize("back", ["2", "30"])
@pytest.mark.parametrize("blocks", [None, 16], ids=["one stream", "two interfaces in blocks"])
def test_each_jobs_data_connection_lives_in_its_sessions_after_the_step(
        tmp_path: Path, back: str, blocks: int | None) -> None:
    """The first job's data connection, stamped `back` s before its control connections
    opened, and the second job's: the hosts at both ends (the agents' sessions) and the
    DMA (the media server of all four) are alive at each one's opening. In one file of
    one interface by the frames' order; in a pcapng of two interfaces written in blocks
    (no event order in its frames) by (clock epoch, time). Fails with plain timestamps:
    before the first job's sessions began, and job 2's too. The sessions are numbered
    in that order (by plain timestamps job 2's came first)."""
    two, syn = _two_jobs(tmp_path, "v4")
    stepped = _moved(two, syn, back)
    if blocks is not None:
        linktype, records = read_records(stepped)
        stepped = _interfaces(tmp_path / "stepped.pcapng", linktype, records, blocks)
    config = build_config(load_file(STORED / "C-v4-3way-bridge.toml"))
    traffic = read_traffic([str(stepped)], config)
    analysis = analyze(traffic, config)
    by_uid = {c.uid: c for c in traffic.connections}
    control_of = {s.id: by_uid[s.control_uid] for s in analysis.sessions}
    order = file_order(traffic)
    assert order.frames == (blocks is None)
    assert (order.epochs is not None) == (blocks is not None)
    data = [c for c in traffic.connections if config.ndmp_port not in (c.resp_p, c.orig_p)]
    assert len(data) == 2
    assert min(c.ts for c in data) < min(c.ts for c in control_of.values()) - 1
    hold = config.port_hold_seconds
    agents = lifetimes(analysis.sessions, control_of, hold, "remote_agent", order)
    media = lifetimes(analysis.sessions, control_of, hold, "media_server", order)
    for conn in data:
        assert agents.alive_at(conn.orig_h, conn.ts, conn.first_frame), conn.uid
        assert agents.alive_at(conn.resp_h, conn.ts, conn.first_frame), conn.uid
        assert media.alive_at(DMA, conn.ts, conn.first_frame), conn.uid
    # Numbered in the capture's order, job 1's sessions first (job 2's ephemeral ports
    # are job 1's moved by one: _second_job); by plain timestamps job 2's were S1, S2.
    ports = [control_of[s.id].orig_p for s in analysis.sessions]
    assert ports[2:] == [port + 1 for port in ports[:2]]
