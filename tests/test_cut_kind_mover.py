"""A session's kind from its data bytes when its control stream does not say it
(flowcheck.sessions.classify.kind_from_bytes): the mover's end takes a backup's bytes,
whichever host runs the mover."""

from __future__ import annotations

import socket
from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial27"
DMA = socket.inet_aton("10.77.0.1")


def test_a_three_way_tape_agent_session_without_the_dmas_requests_is_a_backup(
        tmp_path: Path) -> None:
    """threeway-flooded-syn-t (a good three-way backup captured on the tape agent) cut to
    the packets the DMA did not send (one direction of its control connection): the
    MOVER_LISTEN reply names the tape agent's mover, the data agent sends it 1.5 MB. It
    read as a restore (the data agent, the connection's originator, taken for the media
    server's end) with 'no bytes 10.77.0.3 to 10.77.0.2' for step 4: step_missing, FAIL."""
    linktype, records = read_records(FOLDER / "threeway-flooded-syn-t.pcap.gz")
    kept = [r for r in records if r.data[26:30] != DMA]  # Ethernet, IPv4 source
    assert 0 < len(kept) < len(records)
    capture = write_records(tmp_path / "agents-only.pcap", linktype, kept)
    analysis = stored_analysis(capture, config_path=FOLDER / "threeway-flooded-syn-t.toml")
    assert not errors(analysis)
    [session] = analysis.sessions
    assert session.kind == "backup"
    data_flows = session.steps[-1]
    assert data_flows.status == "ok"
    assert "10.77.0.2 -> 10.77.0.3 (backup)" in " ".join(data_flows.detail.split())
