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

from pathlib import Path

from frame_cuts import frame_range
from stored import CAPTURES

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic
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


def test_a_job_whose_only_data_connection_is_held_closing_says_so(tmp_path: Path) -> None:
    """captures/lab/clean-3-resources.pcap from frame 630 (`editcap -r ... 630-`): the
    last data connection 10.77.0.2:6003 -> 10.77.0.1:5004 first seen at the media
    server's FIN, beside the control connection's close, the callback at the agent's.
    It was a data connection that carried nothing (steps 3-5 judged on it, "no bytes
    either way"); it is the job's closing, and the steps, unknown (whether a backup or
    restore ran cannot be seen), name it."""
    cut = frame_range(CAPTURES / "lab" / "clean-3-resources.pcap", tmp_path / "c.pcap",
                      630, 100000)
    config = build_config(load_file(CAPTURES / "lab" / "clean-3-resources.toml"))
    analysis = analyze(read_traffic([str(cut)], config), config)
    [session] = analysis.sessions
    [closing] = [c for c in analysis.traffic.connections if c.resp_p == 6003]
    assert session.data_connections == [] and session.closing_only == [closing.uid]
    assert analysis.verdict == "inconclusive"
    assert [s.status for s in session.steps] == ["ok", "ok", "unknown", "unknown", "unknown"]
    assert (f"the capture holds {closing.uid} 10.77.0.1:5004 -> 10.77.0.2:6003 only "
            "closing, beside the control connection's close: the job's closing, counted "
            "as none of its data connections") in session.steps[3].detail
