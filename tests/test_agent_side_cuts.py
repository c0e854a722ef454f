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

from scapy.all import IP, TCP
from scapy_files import read_packets, write_packets
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


def _unseen_job(analysis: Analysis, session_index: int) -> None:
    """The session's steps after the control connection unknown, saying the capture
    cannot show whether its job still ran."""
    steps = analysis.sessions[session_index].steps
    assert [s.status for s in steps[1:]] == ["unknown"] * (len(steps) - 1)
    assert "whether the job was still running or had ended before the capture" in \
        " ".join(steps[1].detail.split())


def test_a_late_error_reply_seen_from_the_agent_fails_nothing(tmp_path: Path) -> None:
    """ndmjob-ended's late CONNECT_ERR (v4) and UNDEFINED_ERR (v2) without the media
    server's RST without ACK that showed the job gone: the agent's reply is its only
    packet of a control connection opened before the capture, no request of the media
    server reached it meanwhile. Inconclusive, the error reply a warning (it read FAIL,
    ndmp_error_reply)."""
    for name in ("v4-ended-late-rst-media", "v2-ended-late-rst-media"):
        analysis = _agent_side(tmp_path, ENDED, name, MEDIA)
        assert not errors(analysis) and analysis.verdict == "inconclusive", name
        assert _codes(analysis, "ndmp_error_reply") == ["warning"], name
        _unseen_job(analysis, 0)


def test_a_closed_jobs_retries_seen_from_the_agent_fail_nothing(tmp_path: Path) -> None:
    """v4-ended-at-start-then-good-media without the media server's packets: the DMA's
    FIN (the capture's first packet) is gone, the agent's two SYNs to the old mover port
    have no answer the capture could hold, its CONNECT_ERR follows; then a good job.
    Inconclusive, not data_unanswered; the good job still ok. So too the leftovers beside
    three parallel good jobs (it read FAIL, ndmp_error_reply x2)."""
    analysis = _agent_side(tmp_path, ENDED, "v4-ended-at-start-then-good-media", MEDIA)
    assert not errors(analysis) and analysis.verdict == "inconclusive"
    _unseen_job(analysis, 0)
    assert ("its 2 SYNs (C2, to 10.77.0.1:5789) got no answer the capture could hold: it "
            "holds no packet from 10.77.0.1 to 10.77.1.2 (one direction only)"
            ) in analysis.sessions[0].steps[2].detail  # way_back.lacking_words' phrase
    assert all(s.status == "ok" for s in analysis.sessions[1].steps)
    analysis = _agent_side(tmp_path, ENDED, "v4-ended-leftovers-parallel-media", MEDIA)
    assert not errors(analysis) and analysis.verdict == "inconclusive"
    # The two leftovers' CONNECT_ERR, as in the whole capture; the parallel v3 and v2
    # jobs' DATA_GET_STATE replies decode in their own versions though the CONNECT_OPEN
    # requests are cut away (flowcheck.ndmp.offered): no NOT_SUPPORTED_ERR read from a
    # v2 body as v4's, no ndmp_undecodable (there were 3 warnings and 2 of those).
    assert _codes(analysis, "ndmp_error_reply").count("warning") == 2
    assert not _codes(analysis, "ndmp_undecodable")
    assert [s.version for s in analysis.sessions[1:3]] == [3, 2]
    for index in (3, 4):
        _unseen_job(analysis, index)
    assert all(s.status == "ok" for job in analysis.sessions[:3] for s in job.steps)


def test_an_error_reply_after_a_request_seen_by_the_agents_acks_stays_an_error(
        tmp_path: Path) -> None:
    """The v4 cut with a pure ACK of the agent's before its reply, 100 bytes short of the
    reply's ACK: the media server sent a request while the capture ran, so its job was
    running and the CONNECT_ERR is its failure (ndmp_error_reply, an error)."""
    cut = _not_sent_by(tmp_path, ENDED / "v4-ended-late-rst-media.pcap", MEDIA)
    syn, reply = read_packets(str(cut))
    ack = reply.copy()
    ack[TCP].remove_payload()
    ack[TCP].flags, ack[TCP].ack = "A", reply[TCP].ack - 100
    del ack[IP].len, ack[IP].chksum, ack[TCP].chksum
    ack.time = reply.time - 0.5
    edited = tmp_path / "request-seen.pcap"
    write_packets(str(edited), [ack, syn, reply])
    analysis = stored_analysis(edited, config_path=ENDED / "v4-ended-late-rst-media.toml")
    assert [f.code for f in errors(analysis)] == ["ndmp_error_reply"]


def test_data_syns_dropped_before_the_media_server_was_heard_stay_unanswered(
        tmp_path: Path) -> None:
    """v4-lone-syn-earlier-job-media without the media server's packets: the job's data
    SYNs resent for 28 s, then the agent's ACK of the media server's timeout FIN, the
    only packet of the control connection. The media server was there while the SYNs
    went unanswered: the job's data_unanswered, as in the whole capture."""
    analysis = _agent_side(tmp_path, ENDED, "v4-lone-syn-earlier-job-media", MEDIA)
    assert [f.code for f in errors(analysis)] == ["data_unanswered"]
