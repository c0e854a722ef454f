"""A connection held only closing whose endpoint a control connection announced is the
job's data connection, never among step 2's closing candidates, and the one beside it
that may be the callback is named alone (verify.closing_candidates, review63h).

captures/lab-trial17/mtu-blackhole-media.pcap.gz (NDMP in the clear) keeping frames 26,
27 (DATA_LISTEN, its reply announcing 10.77.1.2:6001) and 31 on, as a sniffer that missed
the job's opening and both handshakes would: the control connection opened before the
capture, the data connection 10.77.0.1:5002 -> 10.77.1.2:6001 (announced) and the
callback 10.77.1.2:6021 -> 10.77.0.1:5001 (the whole capture's pairing: its SYN is
frame 23) each first seen at the media server's FIN beside the control connection's.
Step 2 said "no callback in the capture" though the callback's closing is there.
"""

from __future__ import annotations

from pathlib import Path

from pcap_records import read_records, write_records
from stored import CAPTURES, stored_analysis

SOURCE = CAPTURES / "lab-trial17" / "mtu-blackhole-media.pcap.gz"


def test_the_announced_data_connection_is_no_candidate(tmp_path: Path) -> None:
    linktype, records = read_records(SOURCE)
    capture = write_records(tmp_path / "missed.pcap", linktype, records[25:27] + records[30:])
    analysis = stored_analysis(capture, config_path=SOURCE.with_name("mtu-blackhole-media.toml"))
    [session] = analysis.sessions
    by_ports = {frozenset((c.orig_p, c.resp_p)): c.uid for c in analysis.traffic.connections}
    callback, data = by_ports[frozenset((6021, 5001))], by_ports[frozenset((6001, 5002))]
    step2 = next(s for s in session.steps if s.step == 2)
    assert [(a.ip, a.port) for a in session.announced] == [("10.77.1.2", 6001)]
    assert session.data_connections == [data] and session.callback_uid is None
    assert step2.status == "unknown"
    assert step2.detail.startswith(f"unknown: {callback} 10.77.1.2:6021 <-> 10.77.0.1:5001 "
                                   "(its FIN "), step2.detail
    assert data not in step2.detail and "6001" not in step2.detail, step2.detail


def test_an_ipv6_candidate_is_written_with_brackets(tmp_path: Path) -> None:
    # lab-trial28-ndp/routed-ptb-blackhole-agent.pcap from frame 60: the callback
    # [fd7a::2]:6005 -> [fd79::1]:5001 alone, first seen at the media server's FIN; its
    # ends read "fd7a::2:6005 <-> fd79::1:5001", the port run into the address.
    source = CAPTURES / "lab-trial28-ndp" / "routed-ptb-blackhole-agent.pcap"
    linktype, records = read_records(source)
    capture = write_records(tmp_path / "v6.pcap", linktype, records[59:])
    analysis = stored_analysis(capture, config_path=source.with_suffix(".toml"))
    [session] = analysis.sessions
    by_ports = {frozenset((c.orig_p, c.resp_p)): c.uid for c in analysis.traffic.connections}
    callback = by_ports[frozenset((6005, 5001))]
    detail = next(s for s in session.steps if s.step == 2).detail
    assert detail.startswith(f"unknown: {callback} [fd7a::2]:6005 <-> [fd79::1]:5001 (its FIN "
                             ), detail
