"""A CONNECT_OPEN reply whose error word the capture cut shows no version agreed (field
check 72, task words62: ndmp.collector._track_version took the version from a reply
whose error was unknown, NdmpMessage.error_unknown).

captures/ndmjob-firewall/v3-midjob-data-reject-rst-at-media.pcap: the agent's greeting
(frame 4) offers v4, ndmjob's CONNECT_OPEN (frame 6) asks v3, its reply is frame 8. That
reply cut to 96 bytes (its error word gone) and the capture cut after frame 10 read
"NDMP v3" (version_source connect_open): whether the agent accepted v3 cannot be seen,
so the session says "NDMP v3 asked". The same cut with the job's later messages kept
reads v3 from their layouts (DATA_CONNECT's v3 body, version_source inferred), and the
stored -s 96 cases read unchanged (regress).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, write_records
from stored import stored_analysis

from flowcheck.pipeline import Analysis

CASE = (Path(__file__).resolve().parent.parent / "captures" / "ndmjob-firewall"
        / "v3-midjob-data-reject-rst-at-media")


def _reply_cut(tmp_path: Path, last: int | None) -> Analysis:
    """The case with frame 8 (the CONNECT_OPEN reply) cut to 96 bytes, frames after
    `last` left out (None: kept)."""
    linktype, records = read_records(CASE.with_suffix(".pcap"))
    records[7] = replace(records[7], data=records[7].data[:96])
    out = write_records(tmp_path / "reply-cut.pcap", linktype, records[:last])
    return stored_analysis(out, config_path=CASE.with_suffix(".toml"))


def test_a_cut_open_reply_agrees_no_version(tmp_path: Path) -> None:
    analysis = _reply_cut(tmp_path, 10)
    [stream] = analysis.traffic.streams
    assert stream.messages[2].error_unknown  # frame 8, the reply
    assert stream.version_source != "connect_open"
    [session] = analysis.sessions
    assert session.version is None
    assert session.version_words() == ("NDMP v3 asked (CONNECT_OPEN; the capture does not "
                                       "show its reply accepting it)")


def test_later_layouts_still_tell_the_version(tmp_path: Path) -> None:
    analysis = _reply_cut(tmp_path, None)
    [stream] = analysis.traffic.streams
    assert (stream.version, stream.version_source) == (3, "inferred")
    assert analysis.sessions[0].version == 3
