"""`live` judges silences as `analyze` does, and counts the time the sniffer ran on after
the last packet (which a file cannot show) as capture time."""

from __future__ import annotations

import os
import struct
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _control_syn_only(tmp_path: Path) -> bytes:
    out = tmp_path / "syn.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-r", str(LAB / "clean-3-resources.pcap"),
                    str(out), "1"], check=True, capture_output=True)
    return out.read_bytes()


def _first_ts(data: bytes) -> float:
    """The first packet's timestamp of a little-endian microsecond pcap."""
    seconds, micros = struct.unpack_from("<II", data, 24)
    return seconds + micros / 1e6


def _run_live(data: bytes, ran_on: float, retransmission_timeout: float) -> list:
    config = replace(build_config(load_file(LAB / "clean-3-resources.toml")),
                     retransmission_timeout=retransmission_timeout)
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
            pipe.flush()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    with os.fdopen(read_end, "rb") as stream:
        # The sniffer stopped ran_on seconds after the SYN (on the packets' clock).
        syn_ts = _first_ts(data)
        events = list(LiveVerifier(config, interval=0.0).run(
            stream, clock=lambda: syn_ts + ran_on))
    feeder.join(timeout=30)
    return events


def test_live_stopped_right_after_a_syn_is_inconclusive(tmp_path: Path) -> None:
    events = _run_live(_control_syn_only(tmp_path), ran_on=0.0, retransmission_timeout=3.0)
    report = events[-1].analysis
    assert report.verdict == "inconclusive"
    codes = [e.finding.code for e in events if e.kind == "finding"]
    assert codes == ["capture_ended_early"]


def test_live_sniffer_running_on_after_the_syn_is_not_ended_early(tmp_path: Path) -> None:
    """The sniffer ran on past the timeout: the capture did not end early, but TCP's
    retry is missing from it, so no drop is shown either (trial 29 D4)."""
    events = _run_live(_control_syn_only(tmp_path), ran_on=1.5, retransmission_timeout=1.0)
    report = events[-1].analysis
    assert report.verdict == "inconclusive"
    assert not {"control_unanswered", "capture_ended_early"} & \
        {f.code for f in report.findings}
    assert "never resent in the 1.5 s" in report.sessions[0].steps[0].detail
