"""Lab jobs captured through a port filter (`tcpdump ... 'port 10000'`, a mirror of the
NDMP port only): the capture, not the network, left out the callback and the data
connections, so their absence is no error (contract: packets the capture did not see
are not packets the network dropped). The steps that need them are `unknown` and one
`capture_filtered` warning says why; what the NDMP messages show stays an error.

Each capture is cut from a stored lab capture with tcpdump -r and the filter an admin
would have used.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from scapy.all import TCP, Raw
from scapy_files import read_packets, write_packets

from flowcheck.cli.main import run as cli
from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
# Codes that would rest on the absence of the filtered connections.
ABSENCE = {"step_missing", "announced_not_used", "capture_ended_early"}


def _filtered(tmp_path: Path, capture: Path, expression: str) -> Path:
    out = tmp_path / f"{capture.stem}-filtered.pcap"
    subprocess.run(["tcpdump", "-r", str(capture), "-w", str(out), expression], check=True,
                   capture_output=True)
    return out


def _analyze(capture: Path, config: Path):  # noqa: ANN202
    built = build_config(load_file(config))
    return analyze(read_traffic([str(capture)], built), built)


def _statuses(analysis) -> list[str]:  # noqa: ANN001
    return [s.status for s in analysis.sessions[0].steps]


def test_clean_job_filtered_to_the_ndmp_port_is_inconclusive(tmp_path: Path) -> None:
    config = LAB / "clean-3-resources.toml"
    capture = _filtered(tmp_path, LAB / "clean-3-resources.pcap", "port 10000")
    analysis = _analyze(capture, config)
    codes = [f.code for f in analysis.findings]
    assert [f.code for f in analysis.findings if str(f.severity) == "error"] == []
    assert not ABSENCE & set(codes)
    assert codes.count("capture_filtered") == 1
    assert _statuses(analysis) == ["ok", "unknown", "ok", "unknown", "unknown"]
    steps = analysis.sessions[0].steps
    # The halt of the first resource (frame 22 of the filtered capture) is the evidence.
    assert "NOTIFY_DATA_HALTED SUCCESSFUL, frame 22" in steps[3].detail
    assert "no callback in the capture" in steps[1].detail
    assert analysis.verdict == "inconclusive"
    assert cli(["analyze", "--config", str(config), str(capture)]) == 5


def test_callback_kept_data_filtered_leaves_the_data_steps_unknown(tmp_path: Path) -> None:
    """`port 10000 or port 5001`: the callback is in, the data connections are not; the
    halts say the data moved, so no capture_ended_early about the announcements."""
    config = LAB / "clean-3-resources.toml"
    capture = _filtered(tmp_path, LAB / "clean-3-resources.pcap", "port 10000 or port 5001")
    analysis = _analyze(capture, config)
    codes = [f.code for f in analysis.findings]
    assert _statuses(analysis) == ["ok", "ok", "ok", "unknown", "unknown"]
    assert not ABSENCE & set(codes)
    assert codes.count("capture_filtered") == 1
    assert "report the data moved" in analysis.sessions[0].steps[3].detail
    assert analysis.verdict == "inconclusive"
    assert cli(["analyze", "--config", str(config), str(capture)]) == 5


def test_dropped_data_port_filtered_is_not_called_never_tried(tmp_path: Path) -> None:
    """The media server's 4 SYNs to the data port were on the wire; the filter removed
    them: nothing may say no connection was tried."""
    config = LAB / "data-port-dropped.toml"
    capture = _filtered(tmp_path, LAB / "data-port-dropped.pcap", "port 10000")
    analysis = _analyze(capture, config)
    codes = [f.code for f in analysis.findings]
    assert "announced_not_used" not in codes and "step_missing" not in codes
    assert not any("no connection ever tried it" in f.message for f in analysis.findings)
    assert codes.count("capture_filtered") == 1
    step = analysis.sessions[0].steps[3]
    assert step.status == "unknown" and "NDMP port 10000" in step.detail
    assert analysis.verdict == "inconclusive"


def test_plain_ndmp_job_filtered_to_the_ndmp_port_is_inconclusive(tmp_path: Path) -> None:
    config = NDMJOB / "flowcheck.toml"
    capture = _filtered(tmp_path, NDMJOB / "v4-backup.pcap", "port 10000")
    analysis = _analyze(capture, config)
    assert [f.code for f in analysis.findings if str(f.severity) == "error"] == []
    assert _statuses(analysis) == ["ok", "ok", "unknown", "unknown"]
    assert analysis.verdict == "inconclusive"


def _halts_as_connect_error(capture: Path, out: Path) -> Path:
    """The capture with every NOTIFY_DATA_HALTED reason (its last body word) set to
    CONNECT_ERROR (4): a job whose data connections failed, as its agent reports."""
    packets = read_packets(str(capture))
    for packet in packets:
        if TCP in packet and Raw in packet:
            load = bytes(packet[Raw].load)
            # An NDMP v4 header: record mark, sequence, time, type, code 0x501, ...
            if load.endswith(struct.pack(">I", 1)) and struct.pack(">I", 0x501) in load:
                packet[Raw].load = load[:-4] + struct.pack(">I", 4)
                del packet[TCP].chksum
    write_packets(str(out), packets)
    return out


def test_abnormal_halt_in_a_port_filtered_capture_still_fails(tmp_path: Path) -> None:
    """What the NDMP messages show is evidence: the halts with CONNECT_ERROR fail the job
    though the data connections are not in the capture."""
    config = LAB / "clean-3-resources.toml"
    filtered = _filtered(tmp_path, LAB / "clean-3-resources.pcap", "port 10000")
    capture = _halts_as_connect_error(filtered, tmp_path / "connect-error.pcap")
    analysis = _analyze(capture, config)
    errors = {f.code for f in analysis.findings if str(f.severity) == "error"}
    assert errors == {"data_halted_abnormally"}
    assert analysis.verdict == "fail"


def test_full_captures_keep_their_results() -> None:
    """Negative controls: with every connection captured nothing is called filtered."""
    for name, verdict in [("clean-3-resources", "pass"), ("data-port-dropped", "fail")]:
        analysis = _analyze(LAB / f"{name}.pcap", LAB / f"{name}.toml")
        assert "capture_filtered" not in {f.code for f in analysis.findings}
        assert analysis.verdict == verdict
    analysis = _analyze(NDMJOB / "v4-backup.pcap", NDMJOB / "flowcheck.toml")
    assert analysis.verdict == "pass"


def test_blocked_callback_filtered_stays_missing_and_names_the_filter(tmp_path: Path) -> None:
    """A job stopped by its blocked callback announces nothing: a capture of the NDMP
    port only looks like one taken behind the firewall that dropped the callback, so
    step_missing stays, saying a port filter may have left the callback out."""
    config = LAB / "callback-blocked.toml"
    capture = _filtered(tmp_path, LAB / "callback-blocked.pcap", "port 10000")
    analysis = _analyze(capture, config)
    missing = [f for f in analysis.findings if f.code == "step_missing"]
    assert len(missing) == 1 and "capture again without it" in missing[0].message
    assert "capture_filtered" not in {f.code for f in analysis.findings}
    assert analysis.verdict == "fail"
