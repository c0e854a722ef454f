"""capture_filtered's first words follow what the capture shows (flowcheck.verify
.filtered_lead): what the control connection reports of the connections it lacks, the
filter the file records, or only that every connection it holds is on the NDMP port.
Stored captures cut at test time with `tcpdump -r X -w Y 'port 10000'`, one written
again as pcapng recording that filter (if_filter), as dumpcap -f or live
--capture-filter would have written it.

It read "The capture leaves out connections the job made" for all of them: a capture
filtered to port 10000 whose control connection said nothing of the data connection
(a job whose data connection was dropped) claimed the job had made it.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from capture_factory import epb, read_pcap, shb
from stored import stored_analysis

from flowcheck.bpf import libpcap
from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
THREE_WAY = CAPTURES / "trial27-three-way"


def _cut(tmp_path: Path, capture: Path) -> Path:
    """The capture as tcpdump 'port 10000' would have taken it (gzip read first)."""
    source = capture
    if capture.suffix == ".gz":
        source = tmp_path / capture.stem
        source.write_bytes(subprocess.run(["gzip", "-dc", str(capture)], check=True,
                                          capture_output=True).stdout)
    out = tmp_path / f"{capture.name.split('.')[0]}-port.pcap"
    subprocess.run(["tcpdump", "-r", str(source), "-w", str(out), "port 10000"], check=True,
                   capture_output=True)
    return out


def _recording(tmp_path: Path, cut: Path, expression: str) -> Path:
    """The cut as a pcapng file whose interface records the capture filter `expression`
    (if_filter, code 11, its first byte 0: libpcap's syntax; pcapng draft 4.2)."""
    value = b"\0" + expression.encode()
    option = struct.pack("<HH", 11, len(value)) + value + b"\0" * (-len(value) % 4)
    body = struct.pack("<HHI", 1, 0, 262144) + option + struct.pack("<HH", 0, 0)
    idb = struct.pack("<II", 1, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    out = tmp_path / f"{cut.stem}.pcapng"
    out.write_bytes(shb() + idb + b"".join(epb(0, ts, frame) for ts, frame in read_pcap(cut)))
    return out


def _filtered(analysis: Analysis) -> str:
    [found] = [f for f in analysis.findings if f.code == "capture_filtered"]
    return " ".join(found.message.split())


def test_only_ndmp_port_connections_and_no_word_say_it_cannot_be_seen(
        tmp_path: Path) -> None:
    """3w-ddrop2-t (the tape agent drops the data SYNs; its control connection holds only
    MOVER_LISTEN and polls) cut to port 10000: nothing says the job made a data
    connection, and no filter is recorded: the capture holds only NDMP-port connections,
    so whether it did cannot be seen (a plain NDMP job: no callback named)."""
    config = THREE_WAY / "3w-ddrop2-t.toml"
    analysis = stored_analysis(_cut(tmp_path, THREE_WAY / "3w-ddrop2-t.pcap.gz"),
                               config_path=config)
    assert analysis.verdict == "inconclusive"
    words = _filtered(analysis)
    assert words.startswith("The capture holds only connections on the NDMP port 10000, so "
                            "whether the job made its data connections cannot be seen: each "
                            "of the capture's 1 TCP connection(s)")
    assert "connections the job made" not in words and "callback" not in words


def test_a_backup_exec_job_without_a_word_names_the_callback_too(tmp_path: Path) -> None:
    """lab/data-port-dropped (Backup Exec: the media server's data SYNs dropped, the job
    stopped) cut to port 10000: the same words for its callback and data connections."""
    folder = CAPTURES / "lab"
    analysis = stored_analysis(_cut(tmp_path, folder / "data-port-dropped.pcap"),
                               config_path=folder / "data-port-dropped.toml")
    assert analysis.verdict == "inconclusive"
    words = _filtered(analysis)
    assert words.startswith("The capture holds only connections on the NDMP port 10000, so "
                            "whether the job made its callback and data connections cannot "
                            "be seen:")
    assert "connections the job made" not in words


@pytest.mark.skipif(libpcap() is None, reason="needs libpcap")
def test_a_recorded_filter_is_named_first(tmp_path: Path) -> None:
    """The same 3w-ddrop2-t cut, its file recording 'port 10000': the filter leads."""
    config = THREE_WAY / "3w-ddrop2-t.toml"
    cut = _cut(tmp_path, THREE_WAY / "3w-ddrop2-t.pcap.gz")
    analysis = stored_analysis(_recording(tmp_path, cut, "port 10000"), config_path=config)
    assert analysis.verdict == "inconclusive"
    words = _filtered(analysis)
    assert words.startswith("The capture's recorded filter 'port 10000' keeps only the NDMP "
                            "port 10000, so the capture cannot hold the job's data "
                            "connections, whether it made them or not: ")
    assert "connections the job made" not in words


def test_what_the_control_connection_reports_keeps_the_job_made(tmp_path: Path) -> None:
    """ndmjob-firewall/v4-restore-midjob-drop-at-agent cut to port 10000: DATA_CONNECT
    answered NDMP_NO_ERR says the connection was made, so the capture left out one the
    job made."""
    folder = CAPTURES / "ndmjob-firewall"
    analysis = stored_analysis(_cut(tmp_path, folder / "v4-restore-midjob-drop-at-agent.pcap"),
                               config_path=folder / "v4-restore-midjob-drop-at-agent.toml")
    assert _filtered(analysis).startswith(
        "The capture leaves out connections the job made: in session S1, DATA_CONNECT (frame "
        "11) was answered NDMP_NO_ERR (frame 12)")


def test_a_three_way_job_off_the_path_says_where_the_capture_was() -> None:
    """trial27-three-way/3w-ddrop2-m, stored whole (taken on the DMA; the data connection
    between the two agents was dropped): the capture was not on its path, which says
    nothing of whether it was made."""
    analysis = stored_analysis(THREE_WAY / "3w-ddrop2-m.pcap.gz")
    assert analysis.verdict == "fail"
    words = _filtered(analysis)
    assert words.startswith("The capture was not taken on the path of the job's data "
                            "connection: the data connection 10.77.0.2 -> 10.77.0.3:7014")
