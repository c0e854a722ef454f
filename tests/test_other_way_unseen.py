"""Step 5's words for the direction opposite the job's data, in a capture of one
direction (verify.bytes_each_way.other_way_words).

An ndmjob backup kept to the agent's packets (what `tcpdump -Q out` on the agent or a
SPAN port that sees one way records) said "0 B the other way" of the media server's
direction, which the capture cannot hold, while step 1 of the same report said "media
server -> agent not captured"; the whole capture's 0 B is a count of packets it holds.
"""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP
from scapy_files import read_packets, write_packets
from stored import stored_analysis

from flowcheck.pipeline import Analysis

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
AGENT, MEDIA = "10.77.0.2", "10.77.0.1"


def _analysis(path: Path) -> Analysis:
    return stored_analysis(path, config_path=NDMJOB / "flowcheck.toml")


def _data_step(result: Analysis) -> str:
    [session] = result.sessions
    [step] = [s for s in session.steps if s.name.startswith("backup or restore data")]
    assert step.status == "ok"
    return step.detail


def _kept_from(source: str, tmp_path: Path) -> Path:
    kept = [p for p in read_packets(NDMJOB / "v4-backup.pcap") if p[IP].src == source]
    path = tmp_path / f"from-{source}.pcap"
    write_packets(path, kept)
    return path


def test_other_way_of_a_one_direction_capture_is_not_captured(tmp_path: Path) -> None:
    """The agent's packets only: its 2,037,760 B of backup data counted, the media
    server's direction said not captured, with what the agent's ACKs acknowledge of it
    (its FIN on the data connection: the media server sent no byte of data)."""
    result = _analysis(_kept_from(AGENT, tmp_path))
    assert "capture_one_direction" in {f.code for f in result.findings}
    detail = _data_step(result)
    assert detail.startswith("2,037,760 B agent -> media server (backup) over 1 data connection")
    assert "0 B the other way" not in detail
    assert "; the other way not captured (its FIN acknowledged)" in detail


def test_other_way_of_a_whole_capture_is_counted() -> None:
    """Both directions captured: the media server's direction of the data connection
    holds its ACKs and no payload, so 0 B is the count of what the capture holds."""
    detail = _data_step(_analysis(NDMJOB / "v4-backup.pcap"))
    assert "; 0 B the other way" in detail
    assert "not captured" not in detail


def test_the_other_way_of_several_data_connections_names_their_fins(tmp_path: Path) -> None:
    """Three data connections (lab clean-3-resources) kept to the agent's packets: the
    media server sent no data on them, and the agent's ACKs acknowledge their three FINs,
    said as one connection's are ("its FIN acknowledged"), not "0 B of it acknowledged,
    and 3 FINs"."""
    lab = Path(__file__).resolve().parent.parent / "captures" / "lab"
    kept = [p for p in read_packets(lab / "clean-3-resources.pcap") if p[IP].src == AGENT]
    path = write_packets(tmp_path / "lab-from-agent.pcap", kept)
    detail = _data_step(stored_analysis(path, config_path=lab / "clean-3-resources.toml"))
    assert detail.startswith("600,000 B agent -> media server (backup) over 3 data connections")
    assert detail.endswith("; the other way not captured (3 FINs acknowledged)")
