"""Step 2's closing candidates (verify.closing_candidates, cblate63) cost no walk over
every connection and every session per session (review63h): each session whose control
connection opened before the capture and closed in it, with no callback named, walked
all the capture's connections and every session's announcements, quadratic in the jobs
of a capture started while they ran. Now by host pair (Context.between) and the
announcements indexed once (verify.shared.announced_endpoints). Nothing is timed: the
walks over the connections and sessions lists are counted (tests/test_many_sessions_walks
does so for the other checks), and stay about the same for three times the jobs."""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_factory import pcap_bytes
from many_sessions import AGENT, AGENT_RANGE, MEDIA, MEDIA_RANGE, backup_control, data_halted

import flowcheck.verify.context
from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic

T0 = 1_764_547_200.0


class Walked(list):
    """A list that counts the walks over it."""

    walks = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        Walked.walks += 1
        return super().__iter__()


def _walks(tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Walks over the connections and sessions in verify for `jobs` backups whose control
    connections the capture holds from after their opening (its first packet 0.25 s after
    the last job started) to their close, no callback captured: each session's step 2
    asks for connections held only closing that may be its callback."""
    out: list[tuple[float, bytes]] = []
    closing = T0 + jobs * 0.002 + 5.0
    for k in range(jobs):
        control = backup_control(out, 5001 + k, T0 + k * 0.002, 6001 + k)
        data_halted(control, closing - 0.5 + k * 0.0001)
        control.close(closing + k * 0.0001)
    start = T0 + jobs * 0.002 + 0.25
    frames = sorted((p for p in out if p[0] >= start), key=lambda p: p[0])
    path = tmp_path / f"midstream{jobs}.pcap"
    path.write_bytes(pcap_bytes(frames))
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
    assert len(analysis.sessions) == jobs
    assert all(s.callback_uid is None and s.steps[1].status == "unknown"
               for s in analysis.sessions)
    return Walked.walks


def test_closing_candidates_cost_no_walk_per_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    few = _walks(tmp_path, 10, monkeypatch)
    many = _walks(tmp_path, 30, monkeypatch)
    assert many <= few + 4, (few, many)
