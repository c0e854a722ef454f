"""A data connection cut short, in a capture that started mid-transfer (new-user trial 31,
D5).

The media server's capture began 1.5 s into the job: the data connection had carried
1.45 MB before its first captured packet, the capture holds its last 21720 B, then the
agent's RST answering the media server's FIN (its side had dropped the connection,
captures/trial30-unseen-reset). data_reset said "carried 21720 B agent -> media server",
as if that were all: when the connection's opening is not in the capture, its bytes are
those in the capture. A connection whose opening the capture holds keeps the plain words.

captures/trial31-late/data-reset-late-start.pcap.gz (README there).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _data_reset(folder: str, name: str, capture: str) -> Finding:
    config = build_config(load_file(CAPTURES / folder / f"{name}.toml"))
    analysis = analyze(read_traffic([str(CAPTURES / folder / capture)], config), config)
    [finding] = [f for f in analysis.findings if f.code == "data_reset"]
    return finding


def test_bytes_of_a_connection_opened_before_the_capture_are_those_in_it() -> None:
    finding = _data_reset("trial31-late", "data-reset-late-start",
                          "data-reset-late-start.pcap.gz")
    head = finding.message.split(", then ", 1)[0]
    assert "21,720 B agent -> media server" in head
    assert "in the capture" in head
    assert "opened before the capture started" in head


def test_bytes_of_a_connection_opened_in_the_capture_keep_the_plain_words() -> None:
    finding = _data_reset("trial30-unseen-reset", "data-reset-unseen-media",
                          "data-reset-unseen-media.pcap.gz")
    head = finding.message.split(", then ", 1)[0]
    assert "B agent -> media server and 0 B media server -> agent" in head
    assert "in the capture" not in head
