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
