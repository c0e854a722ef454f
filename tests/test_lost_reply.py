"""A reply the sniffer lost, to a request whose error reply fails the job (contract:
ndmp_error_reply is an error for CONNECT_CLIENT_AUTH and the DATA_* / MOVER_* set-ups),
leaves its step unknown when the session then shows signs the request failed, and
changes nothing when the job went on normally (field check D2: listen-error without its
error reply, frame 250, passed).

captures/lab/listen-error.pcap: 3 resources configured; the agent answers the 2nd
DATA_LISTEN (frame 249) with ILLEGAL_STATE_ERR (frame 250), the DMA asks DATA_LISTEN again
(frame 251, answered in frame 252) and skips that resource. captures/lab/clean-3-resources
.pcap: the same job with every resource moving data; frame 21 answers DATA_LISTEN (frame
20) with 10.77.0.2:6001.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from lab_edits import LAB, analyze_lab, lab_packets, write

from flowcheck.config import build_config, load_file
from flowcheck.model import Step
from flowcheck.pipeline import Analysis, analyze, read_traffic


def _without(tmp_path: Path, name: str, frame: int) -> Analysis:
    """captures/lab/NAME.pcap without that frame (1-based), analysed with its .toml."""
    packets = lab_packets(name)
    path = write(tmp_path, f"{name}-no{frame}", [*packets[:frame - 1], *packets[frame:]])
    return analyze_lab(path, name)


def _step(analysis: Analysis, number: int) -> Step:
    [session] = analysis.sessions
    return next(s for s in session.steps if s.step == number)


def test_a_lost_listen_reply_the_dma_asked_again_is_unknown(tmp_path: Path) -> None:
    analysis = _without(tmp_path, "listen-error", 250)
    assert analysis.verdict == "inconclusive"
    step = _step(analysis, 3)
    assert step.status == "unknown"
    assert "the reply to DATA_LISTEN (frame 249) is not in the capture" in step.detail
    assert "asked DATA_LISTEN again right after (frame 250)" in step.detail
    assert "2 of the 3 configured resources" in step.detail
    assert 249 in step.frames
    assert not [f for f in analysis.findings if f.code == "ndmp_error_reply"]


def test_a_lost_listen_reply_of_a_resource_that_moved_data_passes(tmp_path: Path) -> None:
    analysis = _without(tmp_path, "clean-3-resources", 21)
    assert analysis.verdict == "pass"
    assert _step(analysis, 3).status == "ok"
    assert [f.code for f in analysis.findings if f.code == "ndmp_partial"] == ["ndmp_partial"]


def test_a_lost_successful_reply_beside_a_refused_one_keeps_the_failure(
        tmp_path: Path) -> None:
    """listen-error without frame 252 (DATA_LISTEN frame 251 answered with 6002): the
    refusal in frame 250 still fails the job, and step 3 says so (failed, not unknown)."""
    analysis = _without(tmp_path, "listen-error", 252)
    assert analysis.verdict == "fail"
    assert _step(analysis, 3).status == "failed"


def test_the_dma_asking_again_is_a_sign_without_configured_resources(tmp_path: Path) -> None:
    """With no `resources` configured, the DMA's second DATA_LISTEN right after the lost
    reply still shows the first may have been refused."""
    packets = lab_packets("listen-error")
    path = write(tmp_path, "le-no250", [*packets[:249], *packets[250:]])
    settings = {k: v for k, v in load_file(LAB / "listen-error.toml").items()
                if k != "resources"}
    config = build_config(settings)
    analysis = analyze(read_traffic([str(path)], config), config)
    assert analysis.verdict == "inconclusive"
    step = _step(analysis, 3)
    assert step.status == "unknown"
    assert "asked DATA_LISTEN again right after (frame 250)" in step.detail
    assert "configured resources" not in step.detail.split("; the capture shows:")[0]


NU64 = Path(__file__).resolve().parent.parent / "captures" / "nu64"


def _stored(name: str, path: Path | None = None) -> Analysis:
    """captures/nu64/NAME.pcap (or `path`, cut from it) analysed with NAME.toml."""
    config = build_config(load_file(NU64 / f"{name}.toml"))
    return analyze(read_traffic([str(path or NU64 / f"{name}.pcap")], config), config)


def test_data_after_a_lost_connect_open_reply_rules_out_went_no_further() -> None:
    """newuser64: the reply to CONNECT_OPEN (frame 6) lost with the next 30 NDMP
    messages, then only DATA_STOP and CONNECT_CLOSE, but C2 carried 2,896 B (frames 8, 9)
    after the request: step 1 read "the job went no further" beside step 5's data."""
    analysis = _stored("connect-open-reply-lost")
    assert analysis.verdict == "pass"
    step = _step(analysis, 1)
    assert step.status == "ok"
    assert "went no further" not in step.detail
    assert ("the reply to CONNECT_OPEN (frame 6) is not in the capture (the sniffer lost "
            "it: ndmp_partial)") in step.detail
    assert "the job went on after it: C2 carried its data later (frame 9)" in step.detail
    assert "ndmp_partial" in {f.code for f in analysis.findings}


def test_without_the_data_after_it_the_job_went_no_further(tmp_path: Path) -> None:
    """The same capture without C2's two data segments (editcap: frames 8, 9): nothing
    shows the job went on, the step is unknown as before."""
    path = tmp_path / "no-data.pcap"
    subprocess.run(["editcap", "-F", "pcap", str(NU64 / "connect-open-reply-lost.pcap"),
                    str(path), "8-9"], check=True, capture_output=True)
    analysis = _stored("connect-open-reply-lost", path)
    step = _step(analysis, 1)
    assert step.status == "unknown" and analysis.verdict == "inconclusive"
    assert "the job went no further" in step.detail


def test_the_routers_any_capture_went_on_after_the_lost_reply() -> None:
    """newuser64's tcpdump -i any on the router (462 of 510 packets dropped): the data
    after the lost reply (frame 21), and step 5 counts the 63,136 B before C2's FIN."""
    analysis = _stored("router-any-dropped")
    step = _step(analysis, 1)
    assert step.status == "ok"
    assert "the job went on after it: C2 carried its data later (frame 21)" in step.detail
    assert "63,136 B more that the capture lacks" in _step(analysis, 5).detail
