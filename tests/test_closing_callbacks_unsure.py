"""A connection held only closing is named no job's callback when the capture cannot
tell whose it is (review63a, a second read of cbmix63's only_closing.name_closing_callbacks).

Two lab captures edited as a sniffer or a late start would leave them (their frames kept
or dropped, times moved, never rebuilt):

- captures/lab/concurrent-jobs-late-cut.pcap without the 5021 job's callback
  (10.77.0.2:6087 -> 10.77.0.1:5051, frames 19, 21, 24, 25), the 5035 job's end (frames
  26-33) moved 4,636 us earlier: that job's callback 6093 -> 5001 FINs 14 us after the
  5021 job's control connection closes and 50 us before its own. The nearest close named
  it the 5021 job's callback ("seen only closing ... taken for the callback by its
  direction, ports and that close alone") and left the 5035 job none.
- captures/lab/tls-clean.pcap (control connection in TLS) from frame 706 without the
  callback's frames (715, 719, 720): the data connection 10.77.0.2:6003 <-> 10.77.0.1:5004
  held only closing, 33 ms before the control connection's close, the agent's TLS records
  (frames 710, 713) between, was named the callback with the words "no job message
  between": the records were not read, not absent.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, write_records
from stored import CAPTURES, stored_analysis

from flowcheck.traffic import Analysis

LAB = CAPTURES / "lab"


def _edited(tmp_path: Path, name: str, keep: list[int], moved: range = range(0),
            micros: int = 0) -> Path:
    """lab/NAME.pcap's frames `keep` (1-based), those in `moved` `micros` us earlier,
    in time order, written under tmp_path."""
    linktype, records = read_records(LAB / f"{name}.pcap")
    chosen = [(r.micros - (micros if frame in moved else 0), frame, r)
              for frame, r in enumerate(records, 1) if frame in keep]
    return write_records(tmp_path / f"{name}-edited.pcap", linktype,
                         [replace(r, micros=micros)
                          for micros, _, r in sorted(chosen, key=lambda t: t[:2])])


def _ports(analysis: Analysis) -> dict[str, tuple[int, int]]:
    """Each connection's uid -> (its agent-side port, its media-side port)."""
    return {c.uid: (c.orig_p, c.resp_p) if c.orig_h == "10.77.0.2" else (c.resp_p, c.orig_p)
            for c in analysis.traffic.connections}


def _step2(analysis: Analysis, session_id: str) -> str:
    session = next(s for s in analysis.sessions if s.id == session_id)
    return next(s for s in session.steps if s.step == 2).detail


def test_a_callback_another_job_fits_is_not_named_when_that_job_has_none(
        tmp_path: Path) -> None:
    capture = _edited(tmp_path, "concurrent-jobs-late-cut",
                      [f for f in range(1, 34) if f not in (19, 21, 24, 25)],
                      range(26, 34), 4_636)
    analysis = stored_analysis(capture, config_path=LAB / "concurrent-jobs-late-cut.toml")
    ports = _ports(analysis)
    [callback] = [uid for uid, p in ports.items() if p == (6093, 5001)]
    jobs = {ports[s.control_uid][1]: s for s in analysis.sessions}
    assert sorted(jobs) == [5021, 5035]
    # Named by the nearest close it was the 5021 job's: a wrong pairing, said as sure.
    assert jobs[5021].callback_uid != callback, _step2(analysis, jobs[5021].id)
    assert jobs[5035].callback_uid in (None, callback)
    for session in analysis.sessions:
        assert "seen only closing" not in _step2(analysis, session.id) \
            or session.callback_uid == callback


def test_a_data_connection_closed_before_unread_tls_records_is_no_callback(
        tmp_path: Path) -> None:
    capture = _edited(tmp_path, "tls-clean", [*range(706, 715), *range(716, 719)])
    analysis = stored_analysis(capture, config_path=LAB / "tls-clean.toml")
    [session] = analysis.sessions
    [data] = [uid for uid, p in _ports(analysis).items() if p == (6003, 5004)]
    assert session.callback_uid != data, _step2(analysis, session.id)
    assert "no job message between" not in _step2(analysis, session.id)


def test_a_tls_callback_closing_after_the_last_records_is_still_named(
        tmp_path: Path) -> None:
    """The same capture with the callback's frames: its FIN (frame 715) comes after the
    control connection's last records and just before its close, so it is named; the
    data connection, records between it and the close, is not."""
    analysis = stored_analysis(_edited(tmp_path, "tls-clean", list(range(706, 721))),
                               config_path=LAB / "tls-clean.toml")
    [session] = analysis.sessions
    ports = _ports(analysis)
    assert session.callback_uid is not None and ports[session.callback_uid] == (6071, 5001)
    assert session.callback_closing


def test_a_job_whose_callback_is_seen_from_the_media_server_leaves_the_other_its_own(
        tmp_path: Path) -> None:
    """lab/concurrent-jobs.pcap from frame 894 (`editcap -r ... 894-907`): the 5021 job's
    callback 6087 -> 5051 first seen at the media server's ACK (its direction untold, so
    no candidate), the 5035 job's 6093 -> 5001 FINs 4.6 ms after the 5021 job's close and
    50 us before its own. The 5021 job has its callback in the capture, so 6093 stays the
    5035 job's (the rule above read it as that job's data connection)."""
    linktype, records = read_records(LAB / "concurrent-jobs.pcap")
    capture = write_records(tmp_path / "from-894.pcap", linktype, records[893:])
    analysis = stored_analysis(capture, config_path=LAB / "concurrent-jobs.toml")
    ports = _ports(analysis)
    callbacks = {ports[s.control_uid][1]: ports[s.callback_uid] for s in analysis.sessions
                 if s.callback_uid}
    assert callbacks == {5035: (6093, 5001)}, callbacks
