"""A connection held only closing beside the control connection's close that does not
fit the callback counts as none of the job's data connections (docs/json.md `status`;
flowcheck.sessions.only_closing.claim_closing_only).

tests/data/newuser65/late-killed-tail-media-fin.pcap: late-killed-tail.pcap (a capture
started late of a Backup Exec job whose agent's NDMP service was then killed) without
its frame 15 (`editcap late-killed-tail.pcap OUT 15`), the agent's FIN on the callback
10.77.0.2:6045 -> 10.77.0.1:5001: the callback is held only as the media server's FIN
(frame 20) and the agent's ACK of it, 0.6 ms after the control connection's close. Its
first sender is the media server, so it does not fit the callback by direction: it
was a second data connection that carried nothing ("C1, C3 carried 16,304 B", "over 2
data connections").
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from stored import CAPTURES

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.json_doc import analysis_document

DATA = Path(__file__).resolve().parent / "data" / "newuser65"


def test_a_closing_that_does_not_fit_the_callback_is_no_data_connection() -> None:
    config = build_config(load_file(DATA / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(DATA / "late-killed-tail-media-fin.pcap")],
                                    config), config)
    document = analysis_document(analysis)
    [session] = document["sessions"]
    conns = {(c["orig_p"], c["resp_p"]): c for c in document["connections"]}
    data, closing = conns[(6001, 5002)], conns[(5001, 6045)]
    assert session["data_connections"] == [data["uid"]]
    # The job's own connection (no unannounced_connection), neither data nor callback.
    assert (closing["role"], closing["session"]) == ("other", session["id"])
    assert session["callback_uid"] is None
    assert analysis.sessions[0].closing_only == [closing["uid"]]
    assert session["status"] == "failed"  # control_closed: the job ran in the capture
    assert {f.code for f in analysis.findings} == {"control_closed",
                                                   "capture_started_mid_session"}
    steps = {s.step: s for s in analysis.sessions[0].steps}
    assert f"{data['uid']} carried 16,304 B to the media server" in steps[3].detail
    assert "over 1 data connection;" in steps[5].detail, steps[5].detail
    assert closing["uid"] not in steps[4].uids + steps[5].uids


def _cut(tmp_path: Path, name: str, *ranges: tuple[int, int]) -> Analysis:
    """captures/lab/NAME.pcap's frames in `ranges` (editcap -r), analyzed with its case's
    configuration."""
    capture = CAPTURES / "lab" / f"{name}.pcap"
    out = tmp_path / f"{name}-{ranges[0][0]}.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-r", str(capture), str(out),
                    *(f"{lo}-{hi}" for lo, hi in ranges)], check=True, capture_output=True)
    config = build_config(load_file(CAPTURES / "lab" / f"{name}.toml"))
    return analyze(read_traffic([str(out)], config), config)


@pytest.mark.parametrize(("name", "first", "port"), [
    ("clean-3-resources", 628, 6003), ("clean-3-resources", 629, 6003),
    ("clean-3-resources", 630, 6003), ("restore-2-resources", 435, 6002),
    ("restore-2-resources", 436, 6002), ("snaplen-54", 469, 6002), ("tls-clean", 705, 6003),
    ("tls-clean", 707, 6003)])
def test_a_data_connection_closed_before_the_jobs_last_messages_stays_one(
        tmp_path: Path, name: str, first: int, port: int) -> None:
    """review63b: the last data connection closed before NOTIFY_DATA_HALTED, DATA_STOP
    and CONNECT_CLOSE (clean-3-resources: 10.77.0.2:6003 -> 10.77.0.1:5004, frames
    629-631, the control connection's close at 639; restore-2-resources' restore:
    10.77.0.1:5003 -> 10.77.0.2:6002, 435-437, the close at 445). Cut so the capture holds
    only its closing, it is a data connection whichever end's packet comes first: from
    630 (the media server's FIN, the ACK at 628 before it) and 435 it was read as "the
    job's closing, counted as none of its data connections", from 629 and 436 as a data
    connection: the job spoke after it closed, so it is no callback's nor closing's
    (only_closing.claim_closing_only, as name_closing_callbacks reads it). So too where
    the capture cannot read what the job said after it: snaplen-54 (records cut to 54 B,
    from 469 the media server's ACK first) and tls-clean (NDMP in TLS, from 705 the
    media server's ACK, from 707 its FIN) were read "the job's closing"."""
    analysis = _cut(tmp_path, name, (first, 100000))
    [session] = analysis.sessions
    [conn] = [c for c in analysis.traffic.connections if port in (c.orig_p, c.resp_p)]
    assert (session.data_connections, session.closing_only) == ([conn.uid], [])
    assert conn.role == "data"
    assert "only closing, beside the control connection's close" not in \
        session.steps[3].detail


def test_a_job_whose_only_connection_left_is_held_closing_says_so(tmp_path: Path) -> None:
    """captures/lab/clean-3-resources.pcap from frame 632 without 638 (`editcap -r ...
    632-637 639-644`): the job's last messages (NOTIFY_DATA_HALTED, DATA_STOP,
    CONNECT_CLOSE), then the callback 10.77.0.2:6077 -> 10.77.0.1:5001 first seen at the
    media server's ACK of the agent's FIN (frame 640), beside the control connection's
    close. It is the job's closing, no data connection (nu65left: it was one that carried
    nothing, steps 3-5 judged on it, "no bytes either way"); the steps, unknown (whether
    a backup or restore ran cannot be seen), name it."""
    analysis = _cut(tmp_path, "clean-3-resources", (632, 637), (639, 644))
    [session] = analysis.sessions
    [closing] = [c for c in analysis.traffic.connections if 6077 in (c.orig_p, c.resp_p)]
    assert session.data_connections == [] and session.closing_only == [closing.uid]
    assert analysis.verdict == "inconclusive"
    assert [s.status for s in session.steps] == ["ok", "unknown", "unknown", "unknown",
                                                 "unknown"]
    assert (f"the capture holds {closing.uid} 10.77.0.1:5001 -> 10.77.0.2:6077 only "
            "closing, beside the control connection's close: the job's closing, counted "
            "as none of its data connections") in session.steps[3].detail


@pytest.mark.parametrize("first", [58, 62, 65])
def test_under_plain_ndmp_a_connection_held_closing_stays_a_data_connection(
        tmp_path: Path, first: int) -> None:
    """review63b: captures/ndmjob-kill/agent-crash-restore-names-media (profile ndmp, a
    restore whose DATA_START_RECOVER crashed the agent's ndmjob: its FIN on the data
    connection, frame 62, 10 ms before the one on the control connection, no message
    between). Cut from 58 or 62 the data connection is held only closing and was read
    "the job's closing, counted as none of its data connections" (from 63 a data
    connection); a plain NDMP job holds no connection but its control and data
    connections, so it is one."""
    folder = CAPTURES / "ndmjob-kill"
    out = tmp_path / f"crash-{first}.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-r",
                    str(folder / "agent-crash-restore-names-media.pcap.gz"), str(out),
                    f"{first}-100000"], check=True, capture_output=True)
    config = build_config(load_file(folder / "agent-crash-restore-names-media.toml"))
    analysis = analyze(read_traffic([str(out)], config), config)
    [session] = analysis.sessions
    [data] = [c for c in analysis.traffic.connections if c.role != "control"]
    assert (session.data_connections, session.closing_only) == ([data.uid], [])
    assert data.role == "data"
