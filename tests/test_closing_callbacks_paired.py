"""A callback held only closing is the job's whose close it ends, by its time among the
job's last messages, not by where its first packet falls (cbmix63, review62h).

captures/lab/concurrent-jobs-late-cut.pcap: lab/concurrent-jobs.pcap cut to its last 33
frames (`editcap -r ... 875-907`). Two Backup Exec jobs end in it; every connection is
held only closing. The job of control 10.77.0.1:5021 called back on 10.77.0.2:6087 ->
10.77.0.1:5051 (its FIN, frame 19, right after that job's CONNECT_CLOSE, frame 18), the
job of 5035 on 6093 -> 5001 (frame 28, after its CONNECT_CLOSE, frame 27); the data
connections 6003 -> 5053 and 6004 -> 5003 close (frames 1, 6) before the
NOTIFY_DATA_HALTED of both jobs (frames 9, 13). The sweep gave the 5021 job the other
job's data connection 6004 -> 5003 (its first packet after that control connection's)
and the 5035 job the 5021 job's callback, and read 6093 -> 5001 as a data connection.

captures/lab/data-closing-callback-absent.pcap: lab/port-reused-within-hold.pcap frames
241-249 and 251-253, the first job's end without its callback: its data connection held
only closing (its FIN 29 ms before the control connection's, NOTIFY_DATA_HALTED between)
was named the callback ("taken for the callback by its direction and ports alone").
"""

from __future__ import annotations

import pytest
from stored import CAPTURES, stored_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Announcement
from flowcheck.pipeline import read_traffic
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions
from flowcheck.traffic import Analysis

LAB = CAPTURES / "lab"


@pytest.fixture(scope="module")
def late_cut() -> Analysis:
    return stored_analysis(LAB / "concurrent-jobs-late-cut.pcap")


def _ports(analysis: Analysis) -> dict[str, tuple[int, int]]:
    """Each connection's uid -> (its agent-side port, its media-side port)."""
    return {c.uid: (c.orig_p, c.resp_p) if c.orig_h == "10.77.0.2" else (c.resp_p, c.orig_p)
            for c in analysis.traffic.connections}


def test_each_late_job_has_its_own_callback_seen_closing(late_cut: Analysis) -> None:
    ports = _ports(late_cut)
    callbacks = {ports[s.control_uid][1]: ports[s.callback_uid] for s in late_cut.sessions
                 if s.callback_uid}
    assert callbacks == {5021: (6087, 5051), 5035: (6093, 5001)}, callbacks
    assert all(s.callback_closing for s in late_cut.sessions)
    for session in late_cut.sessions:
        step = next(s for s in session.steps if s.step == 2)
        assert step.status == "ok"
        assert step.detail.startswith("seen only closing (its FIN, frame "), step.detail
        assert "by order" not in step.detail, step.detail


def test_the_data_connections_are_no_callbacks_and_stay_tied(late_cut: Analysis) -> None:
    """Neither data connection is a callback nor any one job's: both jobs fit each and
    nothing in the cut names whose (tied, as before for 6003 -> 5053)."""
    ports = _ports(late_cut)
    data = sorted(uid for uid, p in ports.items() if p in {(6003, 5053), (6004, 5003)})
    assert len(data) == 2
    for session in late_cut.sessions:
        assert session.callback_uid not in data
        assert session.data_connections == []
        assert sorted(session.port_tied) == data


def test_a_data_connection_closed_before_the_jobs_last_messages_is_no_callback() -> None:
    analysis = stored_analysis(LAB / "data-closing-callback-absent.pcap")
    [session] = analysis.sessions
    [data] = [c.uid for c in analysis.traffic.connections if c.orig_p == 6001]
    assert session.callback_uid is None
    assert not session.callback_closing
    assert session.data_connections == [data]
    step = next(s for s in session.steps if s.step == 2)
    assert step.status == "unknown", step
    assert "taken for the callback" not in step.detail


def test_an_announced_data_endpoint_held_only_closing_is_no_callback() -> None:
    """The same capture with its control stream's messages taken out (nothing said
    between the data connection's close and the control connection's: an agent killed)
    and an announcement naming the agent's 10.77.0.2:6001 after it (a DATA_LISTEN reply
    for a next resource, which attach_data does not match to a connection opened before
    it): the connection to an announced data endpoint is a data connection, never the
    callback, whatever its shape and time. Without the announcement it is the callback
    seen only closing (its shape and time fit, nothing else is there)."""
    config = build_config(load_file(LAB / "data-closing-callback-absent.toml"))
    profile = load_profile("backup-exec-9")
    traffic = read_traffic([str(LAB / "data-closing-callback-absent.pcap")], config)
    [stream] = traffic.streams
    [data] = [c for c in traffic.connections if c.orig_p == 6001]
    stream.messages.clear()
    stream.payload_before_fin.clear()  # nor any record unread (review63a: it may be one)
    (quiet,) = build_sessions(traffic.connections, traffic.streams, config, profile)
    assert quiet.callback_uid == data.uid and quiet.callback_closing
    stream.announcements.append(Announcement(stream.uid, "10.77.0.2", 6001, 8,
                                             data.ts + 0.02, "NDMP_DATA_LISTEN", "data"))
    (announced,) = build_sessions(traffic.connections, traffic.streams, config, profile)
    assert announced.callback_uid is None
    assert data.uid in announced.data_connections
