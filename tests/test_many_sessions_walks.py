"""Many sessions cost each stage a constant number of walks over all sessions and all
findings, not one per session (a SYN flood to the NDMP port in the mutation fuzzing:
10,000 lone SYNs, 10,000 sessions, took 33 s for `analyze --format json` and 132 s for
the table, quadratic: each session's status, each session's ladder and each session's
shared data steps walked every finding or every session). Nothing is timed: the walks
over the sessions and findings lists are counted, and stay about the same for three times the
sessions."""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_factory import tcp_packet, write_pcap

import flowcheck.sessions
from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.json_doc import analysis_document
from flowcheck.report.ladder_build import build_ladders

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
