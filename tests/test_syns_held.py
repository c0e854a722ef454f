"""A count of SYNs where the capture shows loss is the capture's, not the sender's.

Field check 72 (lab matrix seed 135 run 7, the sniffer-loss form): the capture lost one
of the media server's four control SYNs and control_unanswered said "The media server
... sent 3 SYNs". captures/lab/control-dropped.pcap without its third SYN (frame 3), as
dumpcap's pcapng whose statistics block says the sniffer dropped a packet, now reads
"sent at least 3 SYNs (the capture holds 3 and shows loss: ...)"; the same cut with no
sign of loss keeps "sent 3 SYNs", and the whole capture "sent 4 SYNs".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from capture_factory import isb
from lab_edits import LAB, analyze_lab, lab_packets
from stored import stored_analysis

from flowcheck.pipeline import Analysis

NAME = "control-dropped"  # frames 1-4: the media server's SYNs to the agent's NDMP port


def _without_third_syn(tmp_path: Path, dropped: int | None) -> Path:
    """The lab capture without frame 3 as pcapng; with a statistics block saying the
    sniffer dropped `dropped` packets (isb_ifdrop) unless None."""
    cut, out = tmp_path / "cut.pcap", tmp_path / "cut.pcapng"
    subprocess.run(["editcap", str(LAB / f"{NAME}.pcap"), str(cut), "3"],
                   check=True, capture_output=True)
    subprocess.run(["editcap", "-F", "pcapng", str(cut), str(out)], check=True,
                   capture_output=True)
    if dropped is not None:
        last = float(lab_packets(NAME, 4)[-1].time)
        out.write_bytes(out.read_bytes() + isb(0, last, ifdrop=dropped))
    return out


def _unanswered(analysis: Analysis) -> str:
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    return finding.message


def test_a_capture_that_dropped_packets_counts_the_syns_it_holds(tmp_path: Path) -> None:
    message = _unanswered(analyze_lab(_without_third_syn(tmp_path, 1), NAME))
    assert message.startswith(
        "The media server 10.77.0.1 sent at least 3 SYNs (the capture holds 3 and shows "
        "loss: the sniffer reported 1 packet dropped) to the agent's NDMP port "
        "10.77.0.2:10000 and "), message
    assert "sent 3 SYNs" not in message


def test_a_capture_with_no_sign_of_loss_keeps_its_count(tmp_path: Path) -> None:
    message = _unanswered(analyze_lab(_without_third_syn(tmp_path, None), NAME))
    assert message.startswith("The media server 10.77.0.1 sent 3 SYNs to the agent's NDMP "
                              "port 10.77.0.2:10000 and "), message
    whole = _unanswered(analyze_lab(LAB / f"{NAME}.pcap", NAME))
    assert whole.startswith("The media server 10.77.0.1 sent 4 SYNs to "), whole


def test_payload_missed_elsewhere_is_loss_too(tmp_path: Path) -> None:
    """The same cut merged (mergecap) with field check 60's sniffer-loss capture of the
    same lab hosts, whose job 1 lost 20,332 B to the sniffer (capture_loss)."""
    lossy = (LAB.parent / "field60-matrix"
             / "two-jobs-callback-syns-dropped-by-media-captured-on-agent-sniffer-loss")
    merged = tmp_path / "merged.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged),
                    str(lossy.with_suffix(".pcap.gz")), str(_without_third_syn(tmp_path, None))],
                   check=True, capture_output=True)
    analysis = stored_analysis(merged, config_path=lossy.with_suffix(".toml"))
    assert "capture_loss" in {f.code for f in analysis.findings}
    assert _unanswered(analysis).startswith(
        "The media server 10.77.0.1 sent at least 3 SYNs (the capture holds 3 and shows "
        "loss: it missed TCP payload of other packets: capture_loss) to the agent's NDMP "
        "port 10.77.0.2:10000 and "), _unanswered(analysis)
