"""no_control_session when the capture's own filter or interface left the control
connection out (trial 15, D2: live --capture-filter "not port 10000" failed a good job
with "check --ndmp-port"). libpcap decides what the filter keeps; live on the loopback
(CI runs as root)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from child_signals import sigint_as_default
from live_process import (
    ended,
    free_port,
    send_on_loopback,
    wait_for_size,
    wait_until_listening,
)

from flowcheck.bpf import libpcap
from flowcheck.cli.main import run
from flowcheck.config import build_config
from flowcheck.findings import make_finding
from flowcheck.model import CaptureInfo
from flowcheck.verify.capture_filter import (
    excludes_control,
    explain_missing_control,
    name_own_filter,
)

needs_libpcap = pytest.mark.skipif(libpcap() is None, reason="needs libpcap")


@needs_libpcap
@pytest.mark.parametrize(("expression", "excludes"), [
    ("not port 10000", True), ("tcp and not port 10000", True),
    ("not portrange 9000-11000", True),
    # Keeps the control connection.
    ("port 10000", False), ("tcp or icmp or icmp6", False), ("tcp port 5000 or port 10000", False),
    # Drops it, but not for its port: nothing said about the port.
    ("host 192.0.2.77", False), ("ip6", False), ("tcp and", False)])
def test_a_filter_excludes_control_only_for_the_ndmp_port(expression: str,
                                                          excludes: bool) -> None:
    config = build_config({"media_servers": ["10.77.0.1"], "remote_agents": ["10.77.1.2"]})
    assert excludes_control(expression, config, []) is excludes


@needs_libpcap
def test_one_unfiltered_file_leaves_no_control_session_an_error() -> None:
    config = build_config()
    finding = make_finding("no_control_session", "No NDMP control connection", "Check")
    filtered = CaptureInfo("a.pcapng", capture_filter="not port 10000")
    [said] = explain_missing_control([finding], [filtered], [], config)
    assert said.severity == "warning" and "'not port 10000'" in said.message
    [said] = explain_missing_control([finding], [filtered, CaptureInfo("b.pcap")], [], config)
    assert said == finding  # the unfiltered file could have held the control connection


def _live(ndmp_port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    """live on the loopback around one connection, stopped (Ctrl-C) once the sniffer has
    its data: a --duration timer could end first on a loaded machine, the capture then
    empty (a flaky exit 5)."""
    written = Path(tempfile.mkdtemp(prefix="t19-")) / "live.pcap"
    process = subprocess.Popen(
        [sys.executable, "-m", "flowcheck", "live", "--interface", "lo",
         "--ndmp-port", str(ndmp_port), "--format", "json", "--write", str(written), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=sigint_as_default)  # stopped by SIGINT however pytest was started
    try:
        wait_until_listening(process, written)  # its header: the sniffer listens
        send_on_loopback(1000)
        wait_for_size(written, 1100)  # its 1000 bytes of data: the sniffer has them
    finally:
        os.killpg(process.pid, signal.SIGINT)
    code, out, err = ended(process)
    return subprocess.CompletedProcess(process.args, code, out, err)


@needs_libpcap
@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
def test_live_filter_without_the_ndmp_port_is_named_and_inconclusive() -> None:
    ndmp_port = free_port()
    result = _live(ndmp_port, "--capture-filter", f"tcp and not port {ndmp_port}")
    assert result.returncode == 5, result.stderr  # was 1: fail, "check --ndmp-port"
    report = json.loads(result.stdout.splitlines()[-1])
    [finding] = [f for f in report["findings"] if f["code"] == "no_control_session"]
    assert finding["severity"] == "warning"
    assert f"capture filter 'tcp and not port {ndmp_port}' leaves out" in finding["message"]
    assert finding["fix"].startswith("Capture again without that capture filter")


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
def test_live_on_the_loopback_names_it_in_no_control_session() -> None:
    result = _live(free_port())  # the default filter keeps every TCP packet
    assert result.returncode == 1, result.stderr  # still an error: nothing proves the cause
    report = json.loads(result.stdout.splitlines()[-1])
    [finding] = [f for f in report["findings"] if f["code"] == "no_control_session"]
    assert "taken on the loopback interface lo" in finding["message"]
    assert "(not lo)" in finding["fix"]


@needs_libpcap
@pytest.mark.skipif(shutil.which("dumpcap") is None, reason="needs dumpcap")
def test_a_pcapng_files_if_filter_is_read(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "t19.pcapng"
    dumpcap = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", "not port 10000", "-w",
                                str(saved)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20  # dumpcap writes its header once it captures
        while (not saved.exists() or saved.stat().st_size == 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        send_on_loopback(1000)
        time.sleep(0.5)
    finally:
        dumpcap.terminate()
        dumpcap.communicate(timeout=30)
    code = run(["analyze", str(saved), "--format", "json"])  # in the test's process
    out, err = capsys.readouterr()
    assert code == 5, err
    [finding] = [f for f in json.loads(out)["findings"]
                 if f["code"] == "no_control_session"]
    assert "capture filter 'not port 10000'" in finding["message"]


def test_a_filter_that_kept_no_data_packet_is_named_as_such(tmp_path: Path) -> None:
    """A capture filter that kept only SYN, FIN and RST packets: the control connection's
    bytes are all missed, and the announcement is among packets the filter left out, not
    lost by the sniffer (sessions.by_ports' "packet_filter" comes before its
    "capture_loss", which since the second new-user trial also takes sessions that read
    as a browse)."""
    import subprocess

    from flowcheck.config import build_config, load_file
    from flowcheck.pipeline import analyze, read_traffic

    lab = Path(__file__).resolve().parent.parent / "captures" / "lab"
    flags = tmp_path / "flags.pcap"
    subprocess.run(["tcpdump", "-r", str(lab / "clean-3-resources.pcap"), "-w", str(flags),
                    "tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0"], check=True,
                   capture_output=True)
    config = build_config(load_file(lab / "clean-3-resources.toml"))
    analysis = analyze(read_traffic([str(flags)], config), config)
    [session] = analysis.sessions
    assert session.match_reason == "packet_filter"
    assert session.steps[2].detail.startswith(
        "unknown: the capture holds no packet of the control connection that carries data")


def test_capture_filtered_names_the_captures_own_filter() -> None:
    """Field check 36c: `live --capture-filter 'tcp port 10000'` left the callback and
    data connections out and capture_filtered gave tcpdump's generic advice; the filter
    the capture records (live's, a pcapng's if_filter) is named, with the way back."""
    found = make_finding("capture_filtered", "The capture leaves out connections.",
                         "Capture without a port filter.")
    other = make_finding("capture_loss", "The capture missed bytes.", "Capture so ...")
    kept = CaptureInfo("live.pcapng", capture_filter="tcp port 10000")
    named, untouched = name_own_filter([found, other], [kept])
    assert named.fix == ("Capture without a port filter. This capture records its own "
                         "capture filter, 'tcp port 10000': capture again without it "
                         "(flowcheck live's default keeps every TCP packet), or with one "
                         "that keeps the backup hosts' whole conversation.")
    assert untouched is other
    # A file of the set without a recorded filter may be the unfiltered one: not said.
    assert name_own_filter([found], [kept, CaptureInfo("other.pcap")]) == [found]
