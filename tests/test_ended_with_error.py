"""A leftover job that ends with an NDMP error, beside a job the capture saw run
(readings62; note61: an `ended` session with an error read `failed` in its status but
"not a job in the capture, not judged" in its header and `judged` false in the JSON).

The capture is built in-process with scapy: lab/clean-3-resources (a good Backup Exec
job, 10.77.0.1 -> 10.77.0.2) with, 1 s before it, the agent's NOTIFY_DATA_HALTED
(INTERNAL_ERROR) on an older control connection (10.77.0.2:10000 -> 10.77.0.1:5020) and
the media server's RST without ACK answering it: no socket there any more, the job's
DMA had closed it before the capture (verify.after_close.gone_before).

Two rules: (1) that halt is the closed job's aftermath, a warning naming it, as its late
error replies are (verify.replies._closed_job): the leftover is `ended`, the verdict the
live job's; (2) should a check leave an ended session an error, the error wins in one
place (report.overview.session_status: the verdict fails on any error), and `judged`, the
session's header and the verdict's note follow that status (docs/json.md).
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from scapy.all import IP, TCP, Ether, rdpcap, wrpcap
from test_ndmp_wire import REQUEST, msg, u32

from flowcheck.config import build_config, load_file
from flowcheck.model import Severity
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis
from flowcheck.report.json_doc import analysis_document
from flowcheck.report.verdict_notes import ended_note

GOOD = Path(__file__).resolve().parents[1] / "captures" / "lab" / "clean-3-resources.pcap"
NOTIFY_DATA_HALTED, INTERNAL_ERROR = 0x501, 3
NOT_A_JOB = "not a job in the capture, not judged"


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    packets = rdpcap(str(GOOD))
    start, link = float(packets[0].time), packets[0][Ether]
    halt = (Ether(src=link.dst, dst=link.src) / IP(src="10.77.0.2", dst="10.77.0.1")
            / TCP(sport=10000, dport=5020, flags="PA", seq=700_000, ack=300_000)
            / msg(40, REQUEST, NOTIFY_DATA_HALTED, u32(INTERNAL_ERROR)))
    reset = (Ether(src=link.src, dst=link.dst) / IP(src="10.77.0.1", dst="10.77.0.2")
             / TCP(sport=5020, dport=10000, flags="R", seq=300_000))
    halt.time, reset.time = start - 1.0, start - 0.9998
    built = tmp_path_factory.mktemp("ended") / "leftover-halt-then-good-job.pcap"
    wrpcap(str(built), [halt, reset, *packets])
    config = build_config(load_file(GOOD.with_suffix(".toml")))
    return analyze(read_traffic([str(built)], config), config)


def _text(analysis: Analysis) -> str:
    out = io.StringIO()
    render_analysis(analysis, Console(file=out, width=400, color_system=None))
    return " ".join(out.getvalue().split())


def test_a_closed_jobs_halt_is_a_warning_naming_it(analysis: Analysis) -> None:
    """It read FAIL: data_halted_abnormally an error on S1, S1 `failed` and yet "not a
    job in the capture, not judged", `judged` false."""
    [halt] = [f for f in analysis.findings if f.code == "data_halted_abnormally"]
    assert halt.severity == Severity.WARNING and halt.session == "S1"
    message = " ".join(halt.message.split())
    assert "halted with reason INTERNAL_ERROR (frame 1)" in message
    assert "The job had ended before the capture started: the media server 10.77.0.1 " \
        "had closed the control connection by then" in message
    assert "so this is the halt of a job already closed, not a failure the capture " \
        "saw" in message
    assert halt.fix.startswith("Nothing to fix for this job")
    document = analysis_document(analysis)
    assert document["verdict"] == "pass"
    assert [(s["status"], s["judged"]) for s in document["sessions"]] == \
        [("ended", False), ("ok", True)]
    assert NOT_A_JOB in _text(analysis)


def test_an_error_on_an_ended_session_wins_everywhere(analysis: Analysis) -> None:
    """Should a check leave the leftover an error (the halt made one again), the session
    is `failed` and judged, as the verdict's fail says: no "not a job in the capture"
    beside it (it read `judged` false and that header with status `failed`)."""
    assert analysis.sessions[0].ended
    errored = replace(analysis, findings=[
        replace(f, severity=Severity.ERROR) if f.code == "data_halted_abnormally" else f
        for f in analysis.findings])
    document = analysis_document(errored)
    assert document["verdict"] == "fail"
    assert [(s["status"], s["judged"]) for s in document["sessions"]] == \
        [("failed", True), ("ok", True)]
    assert ended_note(errored) == ""
    text = _text(errored)
    assert NOT_A_JOB not in text and "FAILED Session S1" in text, text[:3000]


def _control_packets(order: str, start: float, link: Ether) -> list:
    """The older control connection 10.77.0.1:5020 -> 10.77.0.2:10000, open before the
    capture, as its first captured packets: the agent's halt then the media server's
    FIN acknowledging it ("halt-first": the job met the halt while the capture ran), or
    the media server's FIN then the halt ("fin-first": the job had ended as the capture
    began), 1 s before the good job."""
    halt = msg(40, REQUEST, NOTIFY_DATA_HALTED, u32(INTERNAL_ERROR))

    def agent(flags: str, seq: int, ack: int, payload: bytes = b"") -> Ether:
        return (Ether(src=link.dst, dst=link.src) / IP(src="10.77.0.2", dst="10.77.0.1")
                / TCP(sport=10000, dport=5020, flags=flags, seq=seq, ack=ack) / payload)

    def media(flags: str, seq: int, ack: int) -> Ether:
        return (Ether(src=link.src, dst=link.dst) / IP(src="10.77.0.1", dst="10.77.0.2")
                / TCP(sport=5020, dport=10000, flags=flags, seq=seq, ack=ack))

    end = 700_000 + len(halt)
    packets = ([agent("PA", 700_000, 300_000, halt), media("FA", 300_000, end),
                agent("FA", end, 300_001), media("A", 300_001, end + 1)]
               if order == "halt-first" else
               [media("FA", 300_000, 700_000), agent("A", 700_000, 300_001),
                agent("PA", 700_000, 300_001, halt), media("R", 300_001, 0)])
    for index, packet in enumerate(packets):
        packet.time = start - 1.0 + index * 0.0001
    return packets


@pytest.mark.parametrize(("order", "severity", "statuses"), [
    ("halt-first", Severity.ERROR, [("failed", True), ("ok", True)]),
    ("fin-first", Severity.WARNING, [("ended", False), ("ok", True)]),
])
def test_a_halt_before_the_close_is_the_jobs_after_it_a_closed_jobs(
        tmp_path: Path, order: str, severity: Severity, statuses: list) -> None:
    """review62c: a halt the capture holds before the control connection's close (the
    media server's FIN acknowledging it) is a failure the job met while the capture ran,
    an error, whatever closed after it; only a halt after a close that was the first
    packet the capture holds of the job (or answered by a RST without ACK: no socket)
    is a closed job's, a warning (verify.replies._closed_job, after_close.job_ended)."""
    packets = rdpcap(str(GOOD))
    built = tmp_path / f"{order}.pcap"
    wrpcap(str(built), [*_control_packets(order, float(packets[0].time), packets[0][Ether]),
                        *packets])
    config = build_config(load_file(GOOD.with_suffix(".toml")))
    analysis = analyze(read_traffic([str(built)], config), config)
    [halt] = [f for f in analysis.findings if f.code == "data_halted_abnormally"]
    assert halt.severity == severity and halt.session == "S1"
    document = analysis_document(analysis)
    assert [(s["status"], s["judged"]) for s in document["sessions"]] == statuses
    assert document["verdict"] == ("fail" if severity == Severity.ERROR else "pass")
