"""A callback held only closing beside a control connection whose close the capture does
not hold (sessions.closing_unheld, cutcb64a).

Stored lab captures cut in process as `editcap -r IN OUT FROM-1000000` would, from the
frame after the control connection's FINs and before the callback's last FIN: the
control connection shows only the agent's last ACK, the callback the media server's FIN
and the agent's ACK of it (the uncut capture is the ground truth):
- lab/clean-3-resources.pcap from 642: callback 10.77.0.2:6077 -> 10.77.0.1:5001;
- lab/restore-2-resources.pcap from 447: 6015 -> 5001;
- lab/concurrent-jobs.pcap from 905: the 5035 job's 6093 -> 5001;
- lab/concurrent-jobs.pcap from 897: the 5021 job's 6087 -> 5051, the 5035 job's
  6093 -> 5001 closing with its control connection's close held.
Step 2 said "no callback in the capture" and the callback was an unannounced_connection
(from 897: the other job's data connection). lab/concurrent-jobs.pcap from 894 showed the
5035 job's callback "seen only closing" beside "tied to this session by order".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from stored import CAPTURES, stored_analysis

from flowcheck.model import Session
from flowcheck.traffic import Analysis

LAB = CAPTURES / "lab"


def _frames(tmp_path: Path, name: str, frames: list[int]) -> Analysis:
    """LAB/NAME.pcap's `frames` (1-based, in order), analysed with its sidecar."""
    linktype, records = read_records(LAB / f"{name}.pcap")
    cut = write_records(tmp_path / f"{name}-{frames[0]}.pcap", linktype,
                        [records[n - 1] for n in frames])
    return stored_analysis(cut, config_path=LAB / f"{name}.toml")


def _from(tmp_path: Path, name: str, first: int) -> Analysis:
    """LAB/NAME.pcap from frame `first` on (editcap -r IN OUT FIRST-1000000)."""
    total = len(read_records(LAB / f"{name}.pcap")[1])
    return _frames(tmp_path, name, list(range(first, total + 1)))


def _uid(analysis: Analysis, agent_port: int, media_port: int) -> str:
    [uid] = [c.uid for c in analysis.traffic.connections
             if {c.orig_p, c.resp_p} == {agent_port, media_port}]
    return uid


def _session(analysis: Analysis, media_port: int) -> Session:
    """The session whose control connection's media port is `media_port`."""
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    [session] = [s for s in analysis.sessions if by_uid[s.control_uid].orig_p == media_port]
    return session


def _step2(session: Session) -> tuple[str, str]:
    step = next(s for s in session.steps if s.step == 2)
    return step.status, step.detail


@pytest.mark.parametrize(("name", "first", "control_port", "ports"), [
    ("clean-3-resources", 642, 5039, (6077, 5001)),
    ("restore-2-resources", 447, 5037, (6015, 5001)),
    ("concurrent-jobs", 905, 5035, (6093, 5001)),
])
def test_the_callback_closing_after_an_unheld_control_close_is_named(
        tmp_path: Path, name: str, first: int, control_port: int,
        ports: tuple[int, int]) -> None:
    analysis = _from(tmp_path, name, first)
    session = _session(analysis, control_port)
    callback = _uid(analysis, *ports)
    status, detail = _step2(session)
    # First seen at the media server's FIN: its direction unseen, named, not taken.
    assert status == "unknown", detail
    assert "no callback in the capture" not in detail, detail
    assert f"{callback} 10.77.0.2:{ports[0]} <-> 10.77.0.1:{ports[1]}" in detail, detail
    assert "may be this session's callback" in detail, detail
    assert "last captured packet, its close not in the capture" in detail, detail
    conn = next(c for c in analysis.traffic.connections if c.uid == callback)
    assert conn.session == session.id and conn.role == "other"
    assert callback not in session.data_connections
    assert "unannounced_connection" not in {f.code for f in analysis.findings}


def test_the_first_jobs_callback_is_not_the_second_jobs_data(tmp_path: Path) -> None:
    analysis = _from(tmp_path, "concurrent-jobs", 897)
    first, second = _session(analysis, 5021), _session(analysis, 5035)
    callback = _uid(analysis, 6087, 5051)
    assert callback not in second.data_connections
    assert second.callback_uid == _uid(analysis, 6093, 5001)
    status, detail = _step2(first)
    assert status == "unknown" and f"{callback} 10.77.0.2:6087 <-> 10.77.0.1:5051" in detail
    status, detail = _step2(second)
    assert status == "ok" and "by order" not in detail, detail


def test_a_callback_named_by_its_close_is_not_tied_by_order_too(tmp_path: Path) -> None:
    # The 5021 job's close is held (the agent's FIN, frame 1), its callback 6087 -> 5051
    # first seen at the media server's ACK: it has one of its own
    # (only_closing._seen_from_media), so the 5035 job's is no tie.
    analysis = _from(tmp_path, "concurrent-jobs", 894)
    second = _session(analysis, 5035)
    assert second.callback_uid == _uid(analysis, 6093, 5001) and second.callback_closing
    status, detail = _step2(second)
    assert status == "ok" and detail.startswith("seen only closing"), detail
    assert "by order" not in detail, detail
    assert second.callback_tied_with == []


def test_one_sent_by_the_agent_is_taken_for_the_callback(tmp_path: Path) -> None:
    # concurrent-jobs.pcap frames 900-907 without the 5035 job's control FINs (903-905):
    # its callback 6093 -> 5001 first seen at the agent's FIN after CONNECT_CLOSE.
    analysis = _frames(tmp_path, "concurrent-jobs", [900, 901, 902, 906, 907])
    [session] = analysis.sessions
    assert session.callback_uid == _uid(analysis, 6093, 5001) and session.callback_closing
    status, detail = _step2(session)
    assert status == "ok", detail
    assert detail.startswith("seen only closing (its FIN, frame 3, within 1 s of the control "
                             "connection's last captured packet, frame 2, its close not in "
                             "the capture"), detail
    assert "taken for the callback by its direction, host pair" in detail, detail
    assert "the job's CONNECT_CLOSE, frame 2, before it" in detail, detail


def test_a_callback_closed_before_a_jobs_last_message_is_the_other_jobs(
        tmp_path: Path) -> None:
    # concurrent-jobs.pcap from 50 without the control connections' FINs and last ACKs
    # (newuser59's first cut): the 6087 callback's FIN (frame 893) comes before the 5035
    # job's DATA_STOP reply (900), so it is no callback of that job; the sweep paired
    # them the reverse of the whole capture's (5035 took 6087 -> 5051).
    frames = [*range(50, 894), 895, *range(898, 903), 906, 907]
    analysis = _frames(tmp_path, "concurrent-jobs", frames)
    first, second = _session(analysis, 5021), _session(analysis, 5035)
    callback = _uid(analysis, 6087, 5051)
    assert second.callback_uid == _uid(analysis, 6093, 5001)
    assert first.callback_uid is None and first.closing_only == [callback]
    status, detail = _step2(first)
    assert status == "unknown" and f"{callback} 10.77.0.2:6087 <-> 10.77.0.1:5051" in detail


@pytest.mark.parametrize(("name", "frames", "control_port", "ports"), [
    # The capture stopped right after the last data connection's close, the media
    # server's ACK on the control connection after it (review64e).
    ("restore-2-resources", (436, 438), 5037, (6002, 5003)),
    ("clean-3-resources", (629, 632), 5039, (6003, 5004)),
])
def test_a_data_connection_closed_before_the_stop_is_not_the_callback(
        tmp_path: Path, name: str, frames: tuple[int, int], control_port: int,
        ports: tuple[int, int]) -> None:
    analysis = _frames(tmp_path, name, list(range(frames[0], frames[1] + 1)))
    session = _session(analysis, control_port)
    data = _uid(analysis, *ports)
    assert session.callback_uid is None and session.closing_only == []
    assert data in session.data_connections
    status, detail = _step2(session)
    assert status == "unknown" and "no callback in the capture" in detail, detail


def test_the_job_end_not_held_names_no_callback(tmp_path: Path) -> None:
    # concurrent-jobs.pcap 879-881: the 5021 job's control connection holds only the
    # media server's ACK (879) of a LOG message; the 5035 job's data connection
    # 10.77.0.2:6004 -> 10.77.0.1:5003 closes after it and the capture stops. No
    # CONNECT_CLOSE read: nothing says the job ended, so it is no callback "ok" (taken
    # by order before cutcb64a, "seen only closing" after).
    analysis = _frames(tmp_path, "concurrent-jobs", [879, 880, 881])
    session = _session(analysis, 5021)
    data = _uid(analysis, 6004, 5003)
    assert session.callback_uid is None
    status, detail = _step2(session)
    assert status == "unknown", detail
    assert f"{data} 10.77.0.2:6004 <-> 10.77.0.1:5003" in detail, detail
    assert "may be this session's callback" in detail, detail


def test_a_job_with_its_own_callback_does_not_take_the_unheld_jobs(tmp_path: Path) -> None:
    # concurrent-jobs.pcap 885-892, 894-902, 906-907: the 5021 job's close held (894,
    # 896), its callback 6087 -> 5051 first seen at the media server's ACK (895); the
    # 5035 job's close not held, its callback 6093 -> 5001 (902) after its CONNECT_CLOSE
    # (901). only_closing, not knowing of the 5035 job, named 6093 the 5021 job's.
    frames = [*range(885, 893), *range(894, 903), 906, 907]
    analysis = _frames(tmp_path, "concurrent-jobs", frames)
    first, second = _session(analysis, 5021), _session(analysis, 5035)
    assert second.callback_uid == _uid(analysis, 6093, 5001) and second.callback_closing
    assert first.callback_uid is None
    status, detail = _step2(second)
    assert status == "ok" and "the job's CONNECT_CLOSE, frame 16, before it" in detail, detail
    status, detail = _step2(first)
    assert status == "unknown", detail
    assert f"{_uid(analysis, 6087, 5051)} 10.77.0.2:6087 <-> 10.77.0.1:5051" in detail, detail


def test_the_agents_control_ack_after_its_callback_fin_keeps_it_the_jobs(
        tmp_path: Path) -> None:
    # concurrent-jobs.pcap 885-907 without both jobs' control FINs (894, 896, 903, 904):
    # the agent closes its callback (902) before the control connection, whose last ACK
    # (905) comes after it. Read only after that ACK, 6093 -> 5001 fitted the 5021 job
    # alone and was named its callback, "ok".
    frames = [f for f in range(885, 908) if f not in (894, 896, 903, 904)]
    analysis = _frames(tmp_path, "concurrent-jobs", frames)
    first, second = _session(analysis, 5021), _session(analysis, 5035)
    callback = _uid(analysis, 6093, 5001)
    assert first.callback_uid != callback
    assert second.callback_uid in (None, callback)


def test_a_job_with_a_callback_of_its_own_keeps_it(tmp_path: Path) -> None:
    # concurrent-jobs.pcap 860-907 without the 5021 job's control FINs (894, 896): its
    # callback 6087 -> 5051 (893) after its CONNECT_CLOSE (892) is its own; the 5035
    # job's 6093 -> 5001, named beside its captured close (903), nearer that close than
    # the 5021 job's last packet (897), stays the 5035 job's.
    frames = [f for f in range(860, 908) if f not in (894, 896)]
    analysis = _frames(tmp_path, "concurrent-jobs", frames)
    first, second = _session(analysis, 5021), _session(analysis, 5035)
    assert first.callback_uid == _uid(analysis, 6087, 5051) and first.callback_closing
    assert second.callback_uid == _uid(analysis, 6093, 5001) and second.callback_closing
