"""A callback held only closing is named by its direction, ports and the control
connection's close when the job's messages cannot be read (snap length, TLS), and a data
connection closing beside it is not (sessions.only_closing.name_closing_callbacks).

Captures cut from a frame on (as `editcap -r IN OUT N-100000` would), each against the
whole capture's pairing: a reading of the cited branch named neither and read the
callback as a data connection, one that 5f2879c0 and today's main read right. These
guard that reading (they pass on main; every cut of each capture's last frames was
compared with the whole capture's callback).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from stored import CAPTURES, stored_analysis

CUTS = [
    # (capture, first frame kept, the callback's (agent port, media port))
    ("lab/snaplen-54.pcap", 470, (6095, 5001)),
    ("lab/snaplen-54.pcap", 472, (6095, 5001)),
    ("lab/tls-clean.pcap", 708, (6071, 5001)),
    ("field48-matrix/two-tls-jobs-stopped-callback-refused.pcap.gz", 1200, (6028, 5051)),
]


@pytest.mark.parametrize(("name", "first", "callback"), CUTS)
def test_the_callback_is_named_and_no_data_connection_is(
        tmp_path: Path, name: str, first: int, callback: tuple[int, int]) -> None:
    source = CAPTURES / name
    linktype, records = read_records(source)
    capture = write_records(tmp_path / "cut.pcap", linktype, records[first - 1:])
    config = source.with_name(source.name.split(".pcap")[0] + ".toml")
    analysis = stored_analysis(capture, config_path=config)
    [session] = analysis.sessions
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    named = by_uid[session.callback_uid] if session.callback_uid else None
    assert named is not None and {named.orig_p, named.resp_p} == set(callback)
    assert session.callback_closing
    assert session.callback_uid not in session.data_connections
