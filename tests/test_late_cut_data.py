"""A capture cut after the announcement of a job's data connection, whose control
connection it still holds (flowcheck.sessions.capture_start, latecut).

captures/ndmjob/v4-backup.pcap kept from frame 20, 30, 100 or 1000 (newuser57: the
DATA_CONNECT of frame 11 and the data connection's handshake gone, the control
connection alive): under the default profile (backup-exec-9, its default ranges
overlapping) the data connection, open before the capture, went to no session: a
WARNING unannounced_connection said "the capture may miss the control connection that
announced it" though C2, the control connection, is in the capture. Its first captured
packet is the agent's data, so keyed by that sender it never fitted the session's
(media server, agent) pair. Now it is the session's, matched by its two hosts and each
end's port in its side's range (which end opened it is not in the capture), and the
verdict stays INCONCLUSIVE, never PASS: the capture started after the job began.
Its agent's data first and its media port in the agent range too, it is taken because
its DATA_GET_STATE reply names it: a Backup Exec job's callback or other traffic of the
agent's, open before the capture, is not (review56p).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from frame_cuts import frame_range, stored_capture
from stored import CAPTURES

from flowcheck.config import build_config
from flowcheck.config_file import load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic


def _analysis(capture: Path, values: dict | None = None) -> Analysis:
    """`capture` analyzed with `values` (configuration keys; none: the defaults)."""
    config = build_config(values or {})
    return analyze(read_traffic([str(capture)], config), config)


@pytest.mark.parametrize("first", [20, 30, 100, 1000])
def test_v4_backup_cut_after_its_announcement_ties_the_data_connection(
        tmp_path: Path, first: int) -> None:
    """No profile given: the data connection open before the capture is S1's (before:
    unannounced_connection, a warning), S1 a backup, the verdict INCONCLUSIVE."""
    cut = frame_range(stored_capture("ndmjob", "v4-backup"), tmp_path / "late.pcap",
                      first, 100000)
    analysis = _analysis(cut)
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "inconclusive", codes
    assert "unannounced_connection" not in codes
    [session] = analysis.sessions
    [data] = session.data_connections
    conn = next(c for c in analysis.traffic.connections if c.uid == data)
    assert {conn.orig_p, conn.resp_p} == {6015, 5014}
    assert session.kind == "backup"


@pytest.mark.parametrize("first", [20, 100])
def test_backup_exec_cut_after_its_announcements_never_passes(tmp_path: Path,
                                                              first: int) -> None:
    """lab/clean-3-resources (Backup Exec, its ranges configured) cut the same way,
    with its configuration and without: never PASS, never FAIL."""
    capture = CAPTURES / "lab" / "clean-3-resources.pcap"
    cut = frame_range(capture, tmp_path / "late.pcap", first, 10000000)
    settings = load_file(CAPTURES / "lab" / "clean-3-resources.toml")
    for values in (settings, {}):
        analysis = _analysis(cut, values)
        assert analysis.verdict == "inconclusive", [f.code for f in analysis.findings]


def test_unmatched_connection_names_the_control_connection_the_capture_joined(
        tmp_path: Path) -> None:
    """v4-backup.pcap from frame 30 with an agent range its data port 6015 does not fit:
    the connection stays unannounced_connection, but its fix names S1's control
    connection C2, in the capture, opened before it (before: "the capture may miss the
    control connection that announced it")."""
    cut = frame_range(stored_capture("ndmjob", "v4-backup"), tmp_path / "late.pcap",
                      30, 100000)
    analysis = _analysis(cut, {"agent_range": "7000-7100"})
    [finding] = [f for f in analysis.findings if f.code == "unannounced_connection"]
    assert "may miss the control connection" not in finding.fix, finding.fix
    assert finding.fix.startswith("Session S1's control connection C2 between these hosts "
                                  "is in the capture but opened before it started")
    assert "its announcement may have come before the capture" in finding.fix


def test_get_state_reply_names_the_originator_end_of_a_connection_open_before(
        tmp_path: Path) -> None:
    """v4-backup.pcap from frame 999: the data connection's first captured packet is the
    media server's ACK, so its record's originator is the media server's end
    10.77.0.1:5014 (no SYN tells the opener), the endpoint the DATA_GET_STATE reply of
    frame 1148 names. A connection open before the capture may be named by either end
    (late_owners.named_ends): step 3 says the reply names it (frame 1000 on, its first
    packet the agent's, the media server's end is its responder's)."""
    cut = frame_range(stored_capture("ndmjob", "v4-backup"), tmp_path / "late.pcap",
                      999, 100000)
    analysis = _analysis(cut)
    [data] = [c for c in analysis.traffic.connections if c.role == "data"]
    assert (data.orig_h, data.orig_p) == ("10.77.0.1", 5014) and not data.syn_frames
    [session] = analysis.sessions
    assert session.port_named == {data.uid: (1148, "NDMP_DATA_GET_STATE")}
    step3 = next(s for s in session.steps if s.step == 3)
    assert f"{data.uid} reached the endpoint the DATA_GET_STATE reply of frame 1148 names" \
        in step3.detail, step3.detail
    assert "no DATA_GET_STATE" not in step3.detail


@pytest.mark.parametrize("first", [20, 1000])
def test_get_state_reply_showing_the_mover_listening_offers_profile_ndmp(
        tmp_path: Path, first: int) -> None:
    """v4-backup.pcap from frame 20 or 1000: its DATA_GET_STATE reply names the data
    connection's endpoint 10.77.0.1:5014 on the media server (the mover listened), so
    capture_started_mid_session's fix offers --profile ndmp, and step 3 says the reply
    names the endpoint C1 reached (before: no advice; "no DATA_GET_STATE or
    MOVER_GET_STATE reply in the capture names that endpoint"). --profile backup-exec-9
    given: no advice."""
    cut = frame_range(stored_capture("ndmjob", "v4-backup"), tmp_path / "late.pcap",
                      first, 100000)
    analysis = _analysis(cut)
    [info] = [f for f in analysis.findings if f.code == "capture_started_mid_session"]
    assert "If this is plain NDMP, analyze it with --profile ndmp" in info.fix, info.fix
    assert "names its data connection's endpoint 10.77.0.1:5014, on the media server" \
        in info.fix
    [session] = analysis.sessions
    step3 = next(s for s in session.steps if s.step == 3)
    assert "DATA_GET_STATE reply of frame" in step3.detail and \
        "no DATA_GET_STATE" not in step3.detail, step3.detail
    given = _analysis(cut, {"profile": "backup-exec-9"})
    [info] = [f for f in given.findings if f.code == "capture_started_mid_session"]
    assert "--profile ndmp" not in info.fix
    plain = _analysis(cut, {"profile": "ndmp"})
    assert plain.verdict == "inconclusive"
    [info] = [f for f in plain.findings if f.code == "capture_started_mid_session"]
    assert "--profile ndmp" not in info.fix


def _owners(analysis: Analysis) -> dict[frozenset, tuple[frozenset, str]]:
    """Each connection's two endpoints -> (its session's control endpoints, its role
    there: "data" or "callback")."""
    by_uid = {c.uid: c for c in analysis.traffic.connections}

    def ends(uid: str) -> frozenset:
        conn = by_uid[uid]
        return frozenset({(conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)})

    owners = {}
    for session in analysis.sessions:
        job = ends(session.control_uid)
        owners.update({ends(uid): (job, "data") for uid in session.data_connections})
        if session.callback_uid:
            owners[ends(session.callback_uid)] = (job, "callback")
    return owners


@pytest.mark.parametrize(("folder", "name", "first"), [
    ("callbackmatch", "ssh-beside-lost-callback", 20),  # the callback, open before it
    ("callbackmatch", "keepalive-beside-job", 10),  # a keepalive on port 7000
    ("lab", "concurrent-jobs", 200),  # the other job's data connection
])
def test_backup_exec_cut_late_with_default_ranges_takes_only_its_own_data(
        tmp_path: Path, folder: str, name: str, first: int) -> None:
    """Backup Exec jobs cut late, analyzed with their configuration but the default
    (overlapping) ranges: a connection open before the capture whose first packet the
    agent sent fits the agent range at both ends, so it may be the callback or other
    traffic as well as a data connection. Each data connection a session takes in the
    cut is one the whole capture gives to the same job as a data connection (before,
    review56p: S1 took the callback 10.77.0.2:6093 -> 10.77.0.1:5001, the keepalive
    10.77.0.2:7000 -> 10.77.0.1:5050, and the other job's 10.77.0.2:6002 ->
    10.77.0.1:5002, by the two hosts alone)."""
    capture = stored_capture(folder, name)
    values = {key: value for key, value in load_file(CAPTURES / folder / f"{name}.toml").items()
              if key not in ("media_range", "agent_range")}
    whole = _owners(_analysis(capture, values))
    cut = _owners(_analysis(frame_range(capture, tmp_path / "late.pcap", first, 10000000),
                            values))
    for ends, (job, role) in cut.items():
        if role == "data":
            assert whole.get(ends) == (job, "data"), (sorted(ends), whole.get(ends))


def test_profile_ndmp_advice_not_given_beside_a_backup_exec_job(tmp_path: Path) -> None:
    """v4-backup.pcap from frame 20 merged with lab/clean-3-resources.pcap, a Backup Exec
    job (vendor message, callback) between the same hosts: the capture holds signs of
    Backup Exec, so S1's capture_started_mid_session offers no --profile ndmp (before,
    review56p: "the capture holds no sign of Backup Exec (no vendor message, no
    callback)", the vendor message and callback being S2's)."""
    cut = frame_range(stored_capture("ndmjob", "v4-backup"), tmp_path / "late.pcap",
                      20, 100000, "-F", "pcap")
    merged = tmp_path / "merged.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged), str(cut),
                    str(CAPTURES / "lab" / "clean-3-resources.pcap")],
                   check=True, capture_output=True)
    analysis = _analysis(merged)
    assert "ndmp_vendor_message" in [f.code for f in analysis.findings]
    [info] = [f for f in analysis.findings if f.code == "capture_started_mid_session"]
    assert "--profile ndmp" not in info.fix, info.fix
