"""Who closed a control connection first when the capture holds one side only
(flowcheck.verify.first_close, NdmpStream.fin_acked_new)."""

from __future__ import annotations

import socket
from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial27-three-way"
DMA = socket.inet_aton("10.77.0.1")


def _agents_side(tmp_path: Path, name: str) -> Path:
    """captures/trial27-three-way/NAME's packets the DMA did not send."""
    linktype, records = read_records(FOLDER / f"{name}.pcap.gz")
    kept = [r for r in records if r.data[26:30] != DMA]  # Ethernet, IPv4 source
    assert 0 < len(kept) < len(records)
    return write_records(tmp_path / f"{name}-agents.pcap", linktype, kept)


def test_the_dmas_close_seen_only_in_the_agents_fin_is_the_media_servers(
        tmp_path: Path) -> None:
    """3w-kill-t (the DMA killed mid-backup, captured on the tape agent) cut to the
    agents' packets: the tape agent's FIN acknowledges the DMA's FIN, one sequence
    number past its last ACK. It read PASS (the MOVER_LISTEN reply no start, the close
    unjudged); now control_closed by the media server, as the whole capture reads it."""
    analysis = stored_analysis(_agents_side(tmp_path, "3w-kill-t"),
                               config_path=FOLDER / "3w-kill-t.toml")
    assert analysis.verdict == "fail"
    [closed] = errors(analysis)
    assert closed.code == "control_closed"
    message = " ".join(closed.message.split())
    assert "was closed by the media server 10.77.0.1 (its FIN, in the direction the " \
        "capture lacks: 10.77.0.3:10000's own FIN (frame 1608) acknowledges it) while its " \
        "mover was active (MOVER_LISTEN, frame 10" in message
    [session] = analysis.sessions
    assert session.steps[-1].status == "failed"
    assert "the media server 10.77.0.1 closed the control connection" in \
        " ".join(session.steps[-1].detail.split())


def test_the_whole_capture_names_the_same_closer(tmp_path: Path) -> None:
    """The whole capture holds the DMA's FIN itself (frame 1623): no answered-FIN words."""
    analysis = stored_analysis(FOLDER / "3w-kill-t.pcap.gz",
                               config_path=FOLDER / "3w-kill-t.toml")
    [closed] = errors(analysis)
    assert "closed by the media server 10.77.0.1 (FIN, frame 1623)" in \
        " ".join(closed.message.split())
