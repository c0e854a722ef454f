"""`live` checks a quiet link too: a failure followed by silence is printed once its
waiting time has passed, not only when the capture stops (new-user trial 7: a firewall
dropped the data SYNs, the job failed, the link went silent, and data_unanswered came
only at Ctrl-C, 15 s later).

captures/lab/data-port-dropped.pcap: the data SYN and its three retries (0.003 s to
3.07 s), then the job's control and callback connections close (3.51 s), then nothing.
"""

from __future__ import annotations

from pathlib import Path

from live_feed import run_held_back

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier
from flowcheck.sources import iter_batches

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
CAPTURE = LAB / "data-port-dropped.pcap"
CONFIG = build_config(load_file(LAB / "data-port-dropped.toml"))
SETTLE = 2.0  # seconds: the verifier's settle, short to keep the test short


def _is_data_unanswered(event) -> bool:  # noqa: ANN001
    return event.kind == "finding" and event.finding.code == "data_unanswered"


def test_the_packets_alone_do_not_make_the_drop_certain() -> None:
    """At the last packet the data connection has been quiet 0.44 s: a retry may come."""
    verifier = LiveVerifier(CONFIG, interval=0.0, settle=SETTLE)
    reader = iter_batches([str(CAPTURE)])
    for batch in reader:
        verifier.tracker.feed(batch)
        verifier._now = float(batch.ts[-1])
    assert not any(map(_is_data_unanswered, verifier._certain_findings(reader.captures)))


def test_a_drop_followed_by_silence_is_printed_while_the_stream_stays_open() -> None:
    """The whole capture goes through a pipe that then stays open and silent: the error
    comes before the stream ends (before the change it came only with the final report,
    so the wait for it ran out)."""
    data = CAPTURE.read_bytes()
    events, released = run_held_back(CONFIG, data, len(data), _is_data_unanswered,
                                      settle=SETTLE, tick=0.2)
    assert released
    final = events[-1].analysis
    assert final.verdict == "fail"
    early = {(e.finding.code, e.finding.uid) for e in events if e.kind == "finding"}
    assert early <= {(f.code, f.uid) for f in final.findings}
    assert ("data_unanswered", "C3") in early
    # The silence the early finding counted is capture time in the final report too
    # (without a clock it ended at the last packet: evidence of a silence then lost).
    last_packet = max(float(batch.ts.max()) for batch in iter_batches([str(CAPTURE)]))
    assert final.traffic.ended_at > last_packet
