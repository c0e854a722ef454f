"""Many sessions cost each stage a constant number of walks over all sessions and all
findings, not one per session (a SYN flood to the NDMP port in the mutation fuzzing:
10,000 lone SYNs, 10,000 sessions, took 33 s for `analyze --format json` and 132 s for
the table, quadratic: each session's status, each session's ladder and each session's
shared data steps walked every finding or every session). Nothing is timed: the walks
over the sessions and findings lists are counted, and stay about the same for three times the
sessions."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from capture_factory import pcap_bytes, tcp_packet, write_pcap
from many_sessions import AGENT, AGENT_RANGE, MEDIA, MEDIA_RANGE, backup_control, data_halted

import flowcheck.sessions
import flowcheck.sessions.closing_unheld
import flowcheck.verify.context
from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.json_doc import analysis_document
from flowcheck.report.ladder_build import build_ladders
from flowcheck.traffic import Analysis

T0 = 1_764_547_200.0


class Walked(list):
    """A list that counts the walks over it."""

    walks = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        Walked.walks += 1
        return super().__iter__()


def _walks(tmp_path: Path, sessions: int, monkeypatch: pytest.MonkeyPatch
           ) -> tuple[int, int, int]:
    """(walks over the sessions in analyze, walks over the findings for the JSON
    document's statuses, and for the ladders) for `sessions` lone SYNs to the NDMP port."""
    packets = [(T0 + n, tcp_packet("10.77.0.1", "10.77.0.2", 5001 + n, 10000, "S"))
               for n in range(sessions)]
    path = write_pcap(tmp_path / f"syns{sessions}.pcap", packets)
    build = flowcheck.sessions.build_sessions_and_strays

    def counted(*args: object, **kwargs: object) -> tuple:
        found, strays = build(*args, **kwargs)  # type: ignore[arg-type]
        return Walked(found), strays

    monkeypatch.setattr(flowcheck.sessions, "build_sessions_and_strays", counted)
    config = build_config({})
    Walked.walks = 0
    analysis = analyze(read_traffic([str(path)], config), config)
    assert len(analysis.sessions) == sessions and len(analysis.findings) >= sessions
    in_analyze = Walked.walks
    analysis.findings = Walked(analysis.findings)
    Walked.walks = 0
    analysis_document(analysis)
    in_document = Walked.walks
    Walked.walks = 0
    build_ladders(analysis)
    return in_analyze, in_document, Walked.walks


def test_many_sessions_cost_no_walk_per_session(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    few = _walks(tmp_path, 20, monkeypatch)
    many = _walks(tmp_path, 60, monkeypatch)
    # A check or two may walk the sessions once more for what the larger capture holds;
    # 40 more sessions made 81 more walks (one per session, in verify.shared).
    assert many[0] <= few[0] + 4
    assert many[1:] == few[1:]


def _backups(jobs: int) -> list[tuple[float, bytes]]:
    """`jobs` backups 2 ms apart, each closed 5 s after the last started (its data halted
    0.5 s before): their packets, in making order."""
    out: list[tuple[float, bytes]] = []
    closing = T0 + jobs * 0.002 + 5.0
    for k in range(jobs):
        control = backup_control(out, 5001 + k, T0 + k * 0.002, 6001 + k)
        data_halted(control, closing - 0.5 + k * 0.0001)
        control.close(closing + k * 0.0001)
    return out


def _verify_walks(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Analysis, int]:
    """The analysis of the capture at `path` and the walks verify made over its
    connections and sessions lists (Context's, counted)."""
    made = flowcheck.verify.context.Context.__post_init__

    def counted(ctx: flowcheck.verify.context.Context) -> None:
        made(ctx)
        ctx.connections, ctx.sessions = Walked(ctx.connections), Walked(ctx.sessions)

    monkeypatch.setattr(flowcheck.verify.context.Context, "__post_init__", counted)
    config = build_config({"media_servers": [MEDIA], "remote_agents": [AGENT],
                           "media_range": MEDIA_RANGE, "agent_range": AGENT_RANGE,
                           "profile": "backup-exec-9"})
    Walked.walks = 0
    analysis = analyze(read_traffic([str(path)], config), config)
    return analysis, Walked.walks


def _one_way_walks(tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Walks over the connections and the sessions in verify for `jobs` backups captured
    on the media server's way out only (its packets alone: no callback, no agent reply),
    each one asking whether the agent's callback went elsewhere and whether the capture
    would hold the job engine's answer (verify.answer_seen)."""
    media = ipaddress.IPv4Address(MEDIA).packed
    frames = sorted((p for p in _backups(jobs) if p[1][26:30] == media),  # IP src
                    key=lambda p: p[0])
    path = tmp_path / f"one-way{jobs}.pcap"
    path.write_bytes(pcap_bytes(frames))
    analysis, walks = _verify_walks(path, monkeypatch)
    assert len(analysis.sessions) == jobs
    assert all(s.steps[1].status == "missing" for s in analysis.sessions)
    return walks


def _midstream_walks(tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Walks over the connections and sessions in verify for `jobs` backups whose control
    connections the capture holds from after their opening (its first packet 0.25 s after
    the last job started) to their close, no callback captured: each session's step 2
    asks for connections held only closing that may be its callback."""
    start = T0 + jobs * 0.002 + 0.25
    frames = sorted((p for p in _backups(jobs) if p[0] >= start), key=lambda p: p[0])
    path = tmp_path / f"midstream{jobs}.pcap"
    path.write_bytes(pcap_bytes(frames))
    analysis, walks = _verify_walks(path, monkeypatch)
    assert len(analysis.sessions) == jobs
    assert all(s.callback_uid is None and s.steps[1].status == "unknown"
               for s in analysis.sessions)
    return walks


def test_callbacks_asked_one_way_cost_no_walk_per_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each session's callback question walked every connection twice (callbacks
    elsewhere, and the listener's packets heard until) and every session three times
    (the addresses other agents' sessions claim, the known media servers and agents):
    about 5 walks per session. Now by host and host pair, found once."""
    few = _one_way_walks(tmp_path, 10, monkeypatch)
    many = _one_way_walks(tmp_path, 30, monkeypatch)
    assert many <= few + 4


def test_closing_candidates_cost_no_walk_per_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 2's closing candidates (verify.closing_candidates) walked all the capture's
    connections and every session's announcements for each session whose control
    connection opened before the capture and closed in it with no callback named:
    quadratic in the jobs of a capture started while they ran. Now by host pair
    (Context.between), the announcements indexed once (verify.shared.announced_endpoints)."""
    few = _midstream_walks(tmp_path, 10, monkeypatch)
    many = _midstream_walks(tmp_path, 30, monkeypatch)
    assert many <= few + 4, (few, many)


def _unheld_fits(tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Connections read whole (only_closing.close_only) by sessions.closing_unheld and
    verify.closing_candidates for `jobs` Backup Exec jobs whose control connections the
    capture holds as one bare ACK each (open before it, no close), and 30 connections
    held only closing 2 s apart, each more than a second from every control packet."""
    agent, media = "10.77.0.2", "10.77.0.1"
    packets = [(T0 + n * 1e-4, tcp_packet(agent, media, 10000, 20000 + n, "A", 1, 1))
               for n in range(jobs)]
    for n in range(30):
        at, ports = T0 + 2.0 * (n + 1), (6001 + n, 5001 + n)
        packets += [(at, tcp_packet(agent, media, *ports, "FA", 5, 7)),
                    (at + 1e-5, tcp_packet(media, agent, *ports[::-1], "FA", 7, 6)),
                    (at + 2e-5, tcp_packet(agent, media, *ports, "A", 6, 8))]
    path = write_pcap(tmp_path / f"unheld{jobs}.pcap", packets)
    read = flowcheck.sessions.closing_unheld.close_only
    calls = []

    def counted(conn: object) -> bool:
        calls.append(conn)
        return read(conn)  # type: ignore[arg-type]

    monkeypatch.setattr(flowcheck.sessions.closing_unheld, "close_only", counted)
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100",
                           "profile": "backup-exec-9"})
    analysis = analyze(read_traffic([str(path)], config), config)
    assert len(analysis.sessions) == jobs
    assert all(s.steps[1].status == "unknown" for s in analysis.sessions)
    return len(calls)


def test_unheld_closes_cost_no_walk_per_session(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """review64e: step 2's candidates beside a control connection whose close the capture
    lacks (verify.closing_candidates, sessions.closing_unheld.unheld_close_fits) read
    every connection between the hosts whole for each such session before its time:
    1,000 jobs and 2,000 connections held only closing spread over 2,000 s took 3.8 CPU-s
    (1.5 before cutcb64a). The time first: 1.7."""
    few = _unheld_fits(tmp_path, 10, monkeypatch)
    many = _unheld_fits(tmp_path, 30, monkeypatch)
    assert many <= few + 4, (few, many)
