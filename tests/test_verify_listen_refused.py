"""A listen request refused with an NDMP error while the job's other resources got their
data endpoint (trial 20 D2): the failed announcement is step 3's, so the step table does
not read all "ok" under a FAIL verdict, and the data steps say how many of the
configured resources they carried."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.ladder_build import build_ladders

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


@functools.cache
def _listen_error(resources: bool = True) -> Analysis:
    """captures/lab/listen-error.pcap: 3 resources, the 2nd DATA_LISTEN (its reply is
    frame 250) answered ILLEGAL_STATE_ERR, resources 1 and 3 backed up."""
    config = build_config(load_file(LAB / "listen-error.toml"))
    if not resources:
        config = dataclasses.replace(config, resources=None)
    return analyze(read_traffic([str(LAB / "listen-error.pcap")], config), config)


def test_refused_listen_fails_the_announcement_step() -> None:
    analysis = _listen_error()
    assert analysis.verdict == "fail"
    (session,) = analysis.sessions
    step = session.steps[2]
    assert step.status == "failed", step
    assert 250 in step.frames and {21, 252} <= set(step.frames)
    assert "1 of 3 DATA_LISTEN requests failed" in step.detail, step.detail
    assert "frame 250" in step.detail and "ILLEGAL_STATE_ERR" in step.detail
    # The announcements that worked are still named.
    assert "10.77.0.2:6001" in step.detail and "10.77.0.2:6002" in step.detail


def test_data_steps_count_the_configured_resources() -> None:
    (session,) = _listen_error().sessions
    connection, flow = session.steps[3], session.steps[4]
    assert connection.status == "ok" and flow.status == "ok"
    for step in (connection, flow):
        assert "2 of the 3 configured resources" in step.detail, step.detail
    (session,) = _listen_error(resources=False).sessions
    assert session.steps[2].status == "failed"
    assert all("configured resources" not in s.detail for s in session.steps)


def test_error_reply_arrow_is_numbered_with_its_step() -> None:
    (ladder,) = build_ladders(_listen_error())
    by_frame = {a.frames[0]: a for a in ladder.arrows if a.kind == "ndmp"}
    assert by_frame[250].step == 3 and by_frame[250].status == "failed"
    # The announcements that worked stay green.
    assert by_frame[21].step == 3 and by_frame[21].status == "ok"
    assert by_frame[252].status == "ok"
