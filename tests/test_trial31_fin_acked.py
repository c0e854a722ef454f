"""Field check trial 31, on the real cut capture of tests/data/trial31-fin-acked (README
there): a good backup through a router losing 5% of packets, cut just after the media
server's ACK of the agent's FIN on the data connection. The agent had resent its last
segment, which carries the FIN, three times within a millisecond (SACK recovery); the
capture read it as data_stalled, "its FIN never answered", though the peer's ACK covers
it (RFC 9293 3.4: a FIN takes one sequence number). A FIN acknowledged was answered, and
a capture ending a millisecond after it shows no stall (contract: failed only on
evidence)."""

from __future__ import annotations

import functools
from pathlib import Path

from scapy.all import IP

from flowcheck.config import build_config
from flowcheck.pipeline import Analysis, analyze, read_traffic

DATA = Path(__file__).resolve().parent / "data" / "trial31-fin-acked"


@functools.cache
def _analysis() -> Analysis:
    config = build_config({"profile": "ndmp"})
    return analyze(read_traffic([str(DATA / "loss5-good.cut2257.m.pcap.gz")], config), config)


def test_a_fin_its_peer_acknowledged_is_no_stall() -> None:
    analysis = _analysis()
    data = next(c for c in analysis.traffic.connections if c.resp_p == 5028)
    assert "data_stalled" not in {f.code for f in analysis.findings}
    assert analysis.verdict != "fail"
    [session] = analysis.sessions
    assert all(step.status != "failed" for step in session.steps)
    # The tracker's word for it: the agent's FIN (the originator's) acknowledged.
    assert len(data.fin_frames) == 4 and data.orig_fin_acked and not data.resp_fin_acked


def test_a_fin_resent_within_a_millisecond_at_the_capture_end_is_unjudged(
        tmp_path: Path) -> None:
    """The close never answered of test_verify_data_stalled's Backup Exec shape, but its
    FIN resent 0.5 and 1 ms after the first (SACK recovery's pace, as in trial 31, not a
    retransmission timeout's) and the capture ending there: no ACK could have come yet,
    so nothing shows the path stopped delivering it (contract: failed only after a
    stretch of capture long enough for TCP to have retried). Step 5 is unknown, no
    data_stalled; the same FINs 0, 1 and 3 s apart still fail it (that test)."""
    from decimal import Decimal

    from lab_edits import analyze_lab, lab_packets, last_from, next_seq, segment, write

    packets = lab_packets("clean-3-resources", 300)  # inside resource 2 (C4: 5003->6002)
    data = last_from(packets, 5003, 6002)
    seq, ack = next_seq(packets, 5003, 6002), next_seq(packets, 6002, 5003)
    start = packets[-1].time + Decimal(30)
    fins = [segment(data, "FA", seq, ack, start + Decimal(delay))
            for delay in ("0", "0.0005", "0.001")]
    for n, fin in enumerate(fins, 1):  # resends, each its own IPv4 ID: no capture copies
        fin[IP].id = (fin[IP].id + n) & 0xFFFF
    analysis = analyze_lab(write(tmp_path, "fin-fast", [*packets, *fins]),
                           "clean-3-resources")
    assert "data_stalled" not in {f.code for f in analysis.findings}
    assert analysis.verdict == "inconclusive"
    step = analysis.sessions[0].steps[-1]  # the data flows
    assert step.status == "unknown" and "its FIN resent 2 times" in step.detail, step
    assert "after the first FIN, less than the retransmission timeout" in step.detail
