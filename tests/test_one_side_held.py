"""A connection's silent side the capture holds elsewhere is no capture of one direction
(flowcheck.sessions.held_elsewhere), cut at test time with editcap and tcpdump.

- trial31-late/data-reset-late-start without frame 28, the agent's control FIN: the
  control connection keeps only the media server's FIN and its ACK of the agent's FIN,
  yet the capture holds the agent's packets to the media server on the data connection.
  It read as a capture of one direction (sessions.classify.one_sided): steps 2 and 4
  unknown, data_reset gone, verdict inconclusive. Now it reads as the whole capture:
  fail, data_reset, the agent's FIN named as not captured and acknowledged.
- The same capture cut to the media server's packets (`src host 10.77.0.1`): the agent's
  direction is missing from the whole capture, and the control connection still reads
  as one direction (step 2 says so).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from stored import case_config, errors, stored_analysis

from flowcheck.pipeline import Analysis

LATE = Path(__file__).resolve().parents[1] / "captures" / "trial31-late"
NAME = "data-reset-late-start"


def _unzipped(tmp_path: Path) -> Path:
    capture = tmp_path / f"{NAME}.pcap"
    with gzip.open(LATE / f"{NAME}.pcap.gz", "rb") as source, capture.open("wb") as target:
        shutil.copyfileobj(source, target)
    return capture


def _step(analysis: Analysis, number: int) -> tuple[str, str]:
    [session] = analysis.sessions
    step = next(s for s in session.steps if s.step == number)
    return step.status, " ".join(step.detail.split())


def test_a_control_fin_lost_where_the_capture_holds_its_direction(tmp_path: Path) -> None:
    whole = _unzipped(tmp_path)
    cut = tmp_path / "without-28.pcap"
    subprocess.run(["editcap", str(whole), str(cut), "28"], check=True, capture_output=True)
    analysis = stored_analysis(cut, config_path=case_config(LATE, NAME))
    assert analysis.verdict == "fail"
    assert [f.code for f in errors(analysis)] == ["data_reset"]
    assert not any(f.code == "capture_one_direction" for f in analysis.findings)
    status, detail = _step(analysis, 1)
    assert status == "ok"
    assert "0 B agent -> media server (its FIN not captured, acknowledged)" in detail
    status, detail = _step(analysis, 2)
    # Its address came before the capture: the data shows it reached the connector,
    # whether it named the address reached cannot be checked (new-user trial 54).
    assert status == "ok" and "announced before the capture started" in detail
    assert "cannot be checked" in detail
    status, detail = _step(analysis, 4)
    assert status == "failed" and "had already dropped it mid-transfer" in detail
    [control] = [c for c in analysis.traffic.connections if c.resp_p == 10000]
    assert control.side_held_elsewhere


def test_the_media_servers_packets_alone_still_one_direction(tmp_path: Path) -> None:
    whole = _unzipped(tmp_path)
    cut = tmp_path / "media-only.pcap"
    subprocess.run(["tcpdump", "-r", str(whole), "-w", str(cut), "src host 10.77.0.1"],
                   check=True, capture_output=True)
    analysis = stored_analysis(cut, config_path=case_config(LATE, NAME))
    assert analysis.verdict != "pass"
    status, detail = _step(analysis, 2)
    assert "holds only one direction of the control connection" in detail
    assert not any(c.side_held_elsewhere for c in analysis.traffic.connections)
