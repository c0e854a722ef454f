"""Live verification reports a finding while the capture is still running."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier
from flowcheck.pipeline import analyze, read_traffic

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
CAPTURE = NDMJOB / "v4-three-resources.pcap"
# The third session reuses agent port 6015 at 6.2 s; the bulk of the file is read by
# 6.5 s (this byte offset); 19 closing packets (6.5 s to 9.3 s) follow.
HELD_BACK_FROM = 6_577_340


def test_finding_reported_before_the_capture_ends() -> None:
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    data = CAPTURE.read_bytes()
    read_end, write_end = os.pipe()
    first_finding = threading.Event()
    held_back_for_finding = []

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            for start in range(0, HELD_BACK_FROM, 65536):
                pipe.write(data[start:min(start + 65536, HELD_BACK_FROM)])
                pipe.flush()
            # The rest waits until the verifier has reported: a finding that only comes
            # at the end of the capture would leave this waiting (and the test failing).
            held_back_for_finding.append(first_finding.wait(timeout=60))
            pipe.write(data[HELD_BACK_FROM:])

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    events = []
    with os.fdopen(read_end, "rb") as stream:
        # interval=0: a check after every batch, so the outcome does not depend on how
        # the pipe happens to split the stream into batches.
        for event in LiveVerifier(config, interval=0.0).run(stream):
            events.append(event)
            if event.kind == "finding":
                first_finding.set()
    feeder.join(timeout=60)
    assert held_back_for_finding == [True]
    assert events[0].kind == "finding" and events[0].finding.code == "port_reused_within_hold"
    assert events[-1].kind == "report"
    # The live report equals the offline analysis of the same capture.
    offline = analyze(read_traffic([str(CAPTURE)], config), config)
    final = events[-1].analysis
    assert [f.as_dict() for f in final.findings] == [f.as_dict() for f in offline.findings]
    assert [s.as_dict() for s in final.sessions] == [s.as_dict() for s in offline.sessions]
    assert [c.as_dict() for c in final.traffic.connections] == \
           [c.as_dict() for c in offline.traffic.connections]
    reported = [e.finding.as_dict() for e in events if e.kind == "finding"]
    assert sorted(map(str, reported)) == sorted(str(f.as_dict()) for f in offline.findings)
