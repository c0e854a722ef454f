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


def test_refused_listen_seen_from_the_requests_side_only_is_unknown(tmp_path: Path) -> None:
    """The media server's packets only (`tcpdump -Q out` on it): three DATA_LISTEN
    requests, two data connections, the replies (the refusal among them) in the direction
    the capture lacks: the announcement step is unknown, not ok; without the configured
    resources too (it read PASS)."""
    from pcap_records import read_records, write_records

    linktype, records = read_records(LAB / "listen-error.pcap")
    media = bytes([10, 77, 0, 1])
    cut = write_records(tmp_path / "media-only.pcap", linktype,
                        [r for r in records if r.data[26:30] == media])
    for resources in (True, False):
        config = build_config(load_file(LAB / "listen-error.toml"))
        if not resources:
            config = dataclasses.replace(config, resources=None)
        analysis = analyze(read_traffic([str(cut)], config), config)
        assert analysis.verdict == "inconclusive"
        (session,) = analysis.sessions
        step = session.steps[2]
        assert step.status == "unknown", step
        assert "3 DATA_LISTEN requests (frames" in step.detail
        assert "and 2 data connections: the replies are in the direction the capture lacks" \
            in " ".join(step.detail.split())
