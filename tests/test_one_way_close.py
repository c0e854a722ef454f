"""A data connection closed before any data, seen in a capture of one direction (trial 27
toc-filehist-a kept to the media server's packets: its SYN-ACK, its FIN at its first
sequence number, its ACK of the agent's FIN after it). The closer's own packets prove the
close before any data: step 5 failed and data_aborted, which names the control
connection's close by the same host and that a halt before it cannot be seen; never the
safety net's step_missing (before: step 5 "missing: no bytes media server to agent")."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions import closed_before_data

CAPTURE = Path(__file__).resolve().parent.parent / "captures" / "trial27" / "toc-filehist-a"


def _one_way(history: str, *, orig: bool, acked: int, last_frame: int) -> Connection:
    """A data connection of which the capture holds one side's packets only."""
    conn = Connection("C2", "10.77.0.2", 6005, "10.77.0.1", 5042, ts=0.0, history=history,
                      fin_frames=[13], last_frame=last_frame)
    if orig:
        conn.orig_pkts, conn.syn_frames, conn.resp_acked_unseen = 3, [6], acked
    else:
        conn.resp_pkts, conn.synack_frames, conn.orig_acked_unseen = 3, [7], acked
    return conn


def test_the_captured_sides_close_before_any_data_is_closed_before_data() -> None:
    # The media server's SYN-ACK and FIN, then its ACK of the agent's FIN (one number).
    assert closed_before_data(_one_way("^hfa", orig=False, acked=1, last_frame=16))
    # One number acknowledged and no packet after the FIN: a byte before it, or the
    # peer's FIN first (the agent's packets only: the media server's FIN unseen).
    assert not closed_before_data(_one_way("^hfa", orig=False, acked=1, last_frame=13))
    assert not closed_before_data(_one_way("SAF", orig=True, acked=1, last_frame=13))
    assert not closed_before_data(_one_way("^hfa", orig=False, acked=40, last_frame=16))


def _sent_by(host: str, tmp_path: Path) -> Analysis:
    """The stored capture reduced to the packets `host` sent (tshark), analysed."""
    variant = tmp_path / f"from-{host}.pcap"
    subprocess.run(["tshark", "-r", f"{CAPTURE}.pcap", "-Y", f"ip.src == {host}", "-w",
                    str(variant)], check=True, capture_output=True)
    config = build_config(load_file(Path(f"{CAPTURE}.toml")))
    return analyze(read_traffic([str(variant)], config), config)


def test_media_server_only_capture_fails_step_5_with_data_aborted(tmp_path: Path) -> None:
    analysis = _sent_by("10.77.0.1", tmp_path)
    [session] = analysis.sessions
    step = session.steps[3]
    assert step.status == "failed"
    assert step.detail == "10.77.0.1:5042: opened, then closed by 10.77.0.1 (FIN, frame 13) " \
        "before any data"
    codes = [f.code for f in analysis.findings]
    assert "step_missing" not in codes
    [aborted] = [f for f in analysis.findings if f.code == "data_aborted"]
    assert 14 in aborted.frames  # the control connection's FIN, named
    assert "cannot be seen: the capture holds only 10.77.0.1's packets" in aborted.message


def test_acks_of_a_fin_alone_are_no_data(tmp_path: Path) -> None:
    """The agent's packets alone of the same job: its ACKs acknowledge 1 B of the media
    server's data connection, the media server's FIN. That is no proof that data flowed
    (it read step 4 ok and PASS); step 4 is unknown."""
    analysis = _sent_by("10.77.0.2", tmp_path)
    [session] = analysis.sessions
    step = next(s for s in session.steps if s.step == 4)
    assert step.status == "unknown" and "may be only the closing FINs" in step.detail
    assert analysis.verdict != "pass"
