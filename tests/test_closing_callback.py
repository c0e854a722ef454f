"""A connection seen only closing beside the control connection's close is no data
connection (newuser65).

tests/data/newuser65/late-killed-tail.pcap: frames 1860-1900 of a capture started late
of a Backup Exec job whose agent's NDMP service was then killed (lab, newuser65
late-killed.pcap). The callback 10.77.0.2:6045 -> 10.77.0.1:5001 (per the media
server's log) is in it only as its FIN exchange, 5 us before the control connection's
FIN. It read as a second data connection ("C1, C2 carried ...", "over 2 data
connections", step 2 "no callback in the capture"). A connection held only closing
counts as none of the data connections (docs/json.md `status`); one whose direction
and ports fit the callback is named the callback, "seen only closing"
(sessions.only_closing.name_closing_callbacks).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.json_doc import analysis_document
from flowcheck.traffic import Analysis

DATA = Path(__file__).resolve().parent / "data" / "newuser65"


def _read(name: str) -> tuple[Analysis, dict, dict[tuple[int, int], str]]:
    """The stored capture `name` analysed with the directory's configuration: the
    analysis, its one session's JSON and the connections' uids by (orig_p, resp_p)."""
    config = build_config(load_file(DATA / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(DATA / name)], config), config)
    document = analysis_document(analysis)
    [session] = document["sessions"]
    uid = {(c["orig_p"], c["resp_p"]): c["uid"] for c in document["connections"]}
    return analysis, session, uid


def test_a_callback_seen_only_closing_is_no_data_connection() -> None:
    analysis, session, uid = _read("late-killed-tail.pcap")
    callback, data = uid[(6045, 5001)], uid[(6001, 5002)]
    assert session["data_connections"] == [data]
    assert session["callback_uid"] == callback
    assert analysis.verdict == "fail"
    assert {f.code for f in analysis.findings} == {"control_closed",
                                                   "capture_started_mid_session"}
    steps = {s.step: s for s in analysis.sessions[0].steps}
    assert steps[2].detail.startswith("seen only closing (its FIN, frame 15, beside the "
                                      "control connection's close, no job message "
                                      "between): taken for the callback by its direction, "
                                      "ports and that close alone"), steps[2].detail
    assert "over 1 data connection;" in steps[5].detail, steps[5].detail
    assert callback not in steps[4].uids


def test_two_closings_that_fit_the_callback_name_neither() -> None:
    """tests/data/newuser65/late-killed-closes.pcap: late-killed-tail.pcap from its frame
    14 (`editcap -r ... 14-22`): the data connection 10.77.0.2:6001 -> 10.77.0.1:5002
    is now held only closing too (its FIN, frame 1), before the callback's (frame 2) and
    the control connection's (frame 3). Both fit the callback by direction and ports;
    the first in the capture, the data connection, was named the callback and the
    callback counted a data connection (review62h). Neither is told by its direction
    and ports alone: neither is named the callback, both read as before."""
    analysis, session, uid = _read("late-killed-closes.pcap")
    assert session["callback_uid"] is None, session["callback_uid"]
    assert sorted(session["data_connections"]) == sorted([uid[(6001, 5002)],
                                                          uid[(6045, 5001)]])
    assert not analysis.sessions[0].callback_closing


def test_a_closing_beside_another_closing_unanswered_is_not_the_callback() -> None:
    """tests/data/newuser65/late-killed-closes-unanswered.pcap: late-killed-closes.pcap
    without its frames 8 and 9 (`editcap ... 8 9`: the media server's FIN answering the
    callback's and the agent's last ACK), so the capture holds no answer to the
    callback's FIN: it is not held only closing (close_only), and the data connection
    10.77.0.2:6001 -> 10.77.0.1:5002, alone so held, was named the callback (step 2 ok).
    The callback, without payload beside the close, may be it as well: neither is named
    (review62h)."""
    analysis, session, uid = _read("late-killed-closes-unanswered.pcap")
    assert session["callback_uid"] is None, session["callback_uid"]
    assert sorted(session["data_connections"]) == sorted([uid[(6001, 5002)],
                                                          uid[(6045, 5001)]])
