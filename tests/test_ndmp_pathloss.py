"""Loss on the path, resent after the whole flight: offline and live decode every message
(trial 14 D1: holes given up after 16 segments hid a job killed mid-transfer)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier
from flowcheck.pipeline import analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-pathloss"
KILLED = CAPTURES / "dma-killed-pathloss-media.pcap.gz"


def _messages(analysis) -> list[tuple[int, str, bool]]:
    return [(m.frame, m.name, m.partial) for s in analysis.traffic.streams for m in s.messages]


def test_offline_and_live_decode_every_resent_message() -> None:
    config = build_config(load_file(CAPTURES / "dma-killed-pathloss-media.toml"))
    offline = analyze(read_traffic([str(KILLED)], config), config)
    events = list(LiveVerifier(config, interval=0.5).run(
        io.BytesIO(gzip.decompress(KILLED.read_bytes()))))
    live = events[-1].analysis
    for analysis in (offline, live):
        codes = {f.code for f in analysis.findings}
        assert "control_closed" in codes and "ndmp_partial" not in codes
        messages = _messages(analysis)
        assert len(messages) == 23 and not any(partial for _, _, partial in messages)
    assert _messages(live) == _messages(offline)
    assert any(e.kind == "finding" and e.finding.code == "control_closed" for e in events)


def test_step_5_says_its_bytes_include_the_resent_segments() -> None:
    """Trial 23 D11: tshark's sum of TCP payload is above the job log's size by what was
    resent: the detail says how many segments. Since the new-user trial of session 53
    it leads with each byte once (tcptrace's unique bytes: tests/test_unique_bytes.py)
    and says the resent bytes and the sum apart."""
    config = build_config(load_file(CAPTURES / "fh-pathloss-media.toml"))
    analysis = analyze(read_traffic([str(CAPTURES / "fh-pathloss-media.pcap.gz")], config),
                       config)
    [session] = analysis.sessions
    data = [c for c in analysis.traffic.connections if c.uid in session.data_connections]
    resent = sum(c.retransmits for c in data)
    assert resent == 3  # tshark: tcp.analysis.retransmission on the data connection
    sent = sum(c.orig_bytes + c.resp_bytes for c in data)
    unique = sum(c.unique_sent("orig") + c.unique_sent("resp") for c in data)
    assert session.steps[-1].detail.startswith(
        f"{unique:,} B agent -> media server (backup) over 1 data connection, each byte "
        f"once ({sent - unique:,} B more sent again, in 3 retransmitted segments: "
        f"resent, or out of order on the way; {sent:,} B of TCP payload with them); 0 B the "
        "other way")
