"""Connection.orig_evidence / resp_evidence: a side's evidence for the verdicts
(SideEvidence) is an object only for a side that has some; every other side shares the
read-only NO_EVIDENCE (memory follows connections: 200,000 short ones carried 40 fields
each that were almost always 0)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from flowcheck.connections import track_connections
from flowcheck.model import NO_EVIDENCE, Connection, SideEvidence

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def test_a_side_without_evidence_has_no_object() -> None:
    conn = Connection("C1", "10.0.0.1", 5001, "10.0.0.2", 10000, 0.0)
    assert conn.evidence("orig") is NO_EVIDENCE and conn.evidence("resp") is NO_EVIDENCE
    conn.set_evidence("orig", SideEvidence())  # nothing in it: kept as None
    assert conn.orig_evidence is None
    stalled = SideEvidence(resends=3, resent_frame=40)
    conn.set_evidence("resp", stalled)
    assert conn.resp_evidence is stalled and conn.evidence("resp").resends == 3
    assert conn.evidence("orig").resends == 0
    assert not SideEvidence() and SideEvidence(zero_window_longest=0.5)


def test_clean_connections_carry_no_evidence_and_the_shared_default_stays_empty() -> None:
    # A clean backup's connections (short-connection pass and tracker alike) have none;
    # a data connection that stalled (resends never acknowledged) has its sender's.
    clean = track_connections([str(CAPTURES / "ndmjob" / "v4-backup.pcap")]).connections
    assert clean and all(c.orig_evidence is None and c.resp_evidence is None for c in clean)
    blackhole = CAPTURES / "ndmjob-pmtu" / "v4-pmtu-blackhole-at-agent.pcap"
    stalled = track_connections([str(blackhole)]).connections
    with_evidence = [c for c in stalled if c.orig_evidence or c.resp_evidence]
    assert with_evidence and all(c.evidence("orig").resends or c.evidence("resp").resends
                                 or c.evidence("orig").sent_unseen
                                 or c.evidence("resp").sent_unseen for c in with_evidence)
    assert dataclasses.astuple(NO_EVIDENCE) == dataclasses.astuple(SideEvidence())
