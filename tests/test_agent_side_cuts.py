"""Stored cases that pass (or are inconclusive) whole, cut to the packets the media server
did not send (tshark -Y 'not ip.src==MEDIA', a SPAN port that sees the agents' direction
only): the field sweep of such cuts read them FAIL. A packet missing from the capture is
no packet the network dropped (contract.md, "Verdict and exit codes"): what the missing
direction would decide stays unknown, and only what the kept direction proves fails.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from stored import errors, stored_analysis

from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
ENDED = CAPTURES / "ndmjob-ended"
MEDIA = "10.77.0.1"


def _not_sent_by(tmp_path: Path, stored: Path, *senders: str) -> Path:
    """The packets of `stored` none of `senders` sent (tcpdump reads no gzip: unzipped
    first)."""
    capture = stored
    if stored.suffix == ".gz":
        capture = tmp_path / stored.stem
        with gzip.open(stored, "rb") as source, capture.open("wb") as target:
            shutil.copyfileobj(source, target)
    out = tmp_path / f"{stored.name}-agent-side.pcap"
    kept = " or ".join(f"src host {sender}" for sender in senders)
    subprocess.run(["tcpdump", "-r", str(capture), "-w", str(out), f"not ({kept})"],
                   check=True, capture_output=True)
    return out


def _agent_side(tmp_path: Path, folder: Path, name: str, *senders: str) -> Analysis:
    """captures/FOLDER/NAME.* cut to the packets `senders` (the media server's addresses)
    did not send, analysed with NAME.toml."""
    [stored] = [p for p in folder.glob(f"{name}.pcap*") if not p.name.endswith(".json")]
    return stored_analysis(_not_sent_by(tmp_path, stored, *senders),
                           config_path=folder / f"{name}.toml")


def _codes(analysis: Analysis, code: str) -> list[str]:
    return [str(f.severity) for f in analysis.findings if f.code == code]


def test_probes_beside_a_job_seen_one_way_are_side_traffic(tmp_path: Path) -> None:
    """ndmjob-probes/probes-10000-media without the media server's packets: the job's
    control connection holds the agent's NDMP replies only, the media server's requests
    shown by the agent's ACKs. It is the configured job all the same, so the probes of
    hosts outside the configuration are side traffic as in the whole capture (it read
    FAIL: control_refused x2 for the refused probes of 10.77.1.5)."""
    analysis = _agent_side(tmp_path, CAPTURES / "ndmjob-probes", "probes-10000-media", MEDIA)
    assert not errors(analysis) and analysis.verdict == "pass"
    job, *probes = analysis.sessions
    assert (job.media_server, job.remote_agent) == (MEDIA, "10.77.1.2") and not job.side
    assert all(s.status == "ok" for s in job.steps)
    assert probes and all(s.side for s in probes)
    assert "control_refused" not in {f.code for f in analysis.findings}


def test_a_fallback_seen_from_the_agent_keeps_its_reading(tmp_path: Path) -> None:
    """lab-trial28-dualstack/happy-eyeballs-v6-rst without the media server's packets
    (both addresses): the IPv6 attempt is its refusal's RST alone, the IPv4 job opens
    with the agent's SYN-ACK. The fallback is read from that SYN-ACK's time: the
    refusal is no failure of the job (it read FAIL, control_refused)."""
    analysis = _agent_side(tmp_path, CAPTURES / "lab-trial28-dualstack",
                           "happy-eyeballs-v6-rst", MEDIA, "fd77::1")
    assert not errors(analysis) and analysis.verdict == "pass"
    [fallback] = [f for f in analysis.findings if f.code == "ip_version_fallback"]
    assert "the agent answered (its SYN-ACK, frame 2; the media server's SYN is not in " \
           "the capture)" in " ".join(fallback.message.split())
    attempt, job = analysis.sessions
    assert [s.status for s in attempt.steps] == ["not_applicable"] * 5
    assert all(s.status == "ok" for s in job.steps)
