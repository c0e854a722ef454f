"""trial23-other-protocol/http-probe-ndmp-agent cut at test time to the agent's packets
(`tcpdump 'src host 10.77.0.2'`): an HTTP client (curl) on the agent's NDMP port, then a
clean Backup Exec job. The whole capture reads PASS (the curl connection is no session);
the cut read FAIL, `step_missing` for the curl connection's callback: the client's
request is not in the cut, only the agent's greeting, its ACK of 79 B and a FIN, and its
close. The agent answered none of the bytes it read (an NDMP server answers each request
with a reply), so no job started there that a callback would follow: step 2 unknown,
never missing (flowcheck.verify.port_check.callback_not_due), the verdict inconclusive
and the job's session ok.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from stored import case_config, stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial23-other-protocol"
NAME = "http-probe-ndmp-agent"


def test_an_unanswered_client_seen_from_the_agent_is_no_missing_callback(
        tmp_path: Path) -> None:
    whole = tmp_path / f"{NAME}.pcap"
    with gzip.open(FOLDER / f"{NAME}.pcap.gz", "rb") as source, whole.open("wb") as target:
        shutil.copyfileobj(source, target)
    cut = tmp_path / "agent-only.pcap"
    subprocess.run(["tcpdump", "-r", str(whole), "-w", str(cut), "src host 10.77.0.2"],
                   check=True, capture_output=True)
    analysis = stored_analysis(cut, config_path=case_config(FOLDER, NAME))
    assert analysis.verdict == "inconclusive"
    assert not any(str(f.severity) == "error" for f in analysis.findings)
    probe, job = analysis.sessions
    step = next(s for s in probe.steps if s.step == 2)
    assert step.status == "unknown"
    detail = " ".join(step.detail.split())
    assert ("the agent 10.77.0.2 acknowledging 80 B from 10.77.0.1 (a FIN counts one) and "
            "answering none of it (its greeting its only message)") in detail
    assert "no job started on it that a callback would follow" in detail
    assert all(s.status == "ok" for s in job.steps)
