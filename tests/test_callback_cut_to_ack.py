"""A callback the capture holds only from its handshake's last ACK on is the job's
callback, not a second data connection (sessions.callback_from_ack, cutcb64b).

Two stored captures cut as a sniffer started late would leave them (`editcap -r CAPTURE
OUT FROM-1000000`: the frames from FROM on, unchanged):

- lab-trial17/mtu-blackhole-media.pcap.gz from frame 25: the callback
  10.77.1.2:6021 -> 10.77.0.1:5001 first seen at the agent's handshake ACK (its SYN is
  frame 23), just before DATA_LISTEN; it was matched by ports as a data connection and
  step 2 said "no callback in the capture".
- lab-trial28-ndp/routed-ptb-blackhole-agent.pcap from frame 19: the callback
  [fd7a::2]:6005 -> [fd79::1]:5001 the same way; step 5 said "15,708 B ... over 2 data
  connections".
The uncut captures (the ground truth) pair them so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from stored import CAPTURES, stored_analysis

CUTS = [("lab-trial17", "mtu-blackhole-media.pcap.gz", 25, (6021, 5001), (5002, 6001)),
        ("lab-trial28-ndp", "routed-ptb-blackhole-agent.pcap", 19, (6005, 5001), (5002, 6001))]


@pytest.mark.parametrize(("folder", "name", "first", "callback_ports", "data_ports"), CUTS)
def test_a_callback_seen_from_its_handshake_ack_is_the_callback(
        tmp_path: Path, folder: str, name: str, first: int, callback_ports: tuple[int, int],
        data_ports: tuple[int, int]) -> None:
    source = CAPTURES / folder / name
    linktype, records = read_records(source)
    capture = write_records(tmp_path / "cut.pcap", linktype, records[first - 1:])
    analysis = stored_analysis(capture, config_path=source.with_name(
        name.split(".")[0] + ".toml"))
    [session] = analysis.sessions
    by_ports = {(c.orig_p, c.resp_p): c.uid for c in analysis.traffic.connections}
    callback, data = by_ports[callback_ports], by_ports[data_ports]
    step2 = next(s for s in session.steps if s.step == 2)
    assert session.callback_uid == callback, step2.detail
    assert session.data_connections == [data]
    assert step2.status == "ok"
    assert "taken for the callback by its direction, ports and silence alone" \
        in step2.detail, step2.detail
    step5 = next(s for s in session.steps if s.step == 5)
    assert "2 data connections" not in step5.detail, step5.detail
