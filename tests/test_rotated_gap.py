"""A file missing from a capture cut by time (tcpdump -G) is a hole, as a ring's missing
number is (newuser57): the folder read PASS, capture_loss "missed 368 bytes (0.011%)",
with the first data connection's end and the second's opening in the missing file.

Real components: flowcheck.lab's agent (--chunk-delay 0.05, 3,000,000 bytes a resource)
and a 2-resource media job between lab namespaces (prefix rgap), captured on M with
`tcpdump -Z root -s 0 -U -G 2 -w 'job-%H%M%S.pcap' 'tcp or icmp'` (4 files or more).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowcheck.config import build_config
from flowcheck.lab.netns import lab_network
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sources.rotation_gaps import name_seconds

pytestmark = pytest.mark.lab

BYTES = "4000000"


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The job's files in name order (time order)."""
    out = tmp_path_factory.mktemp("rotated")
    with lab_network(prefix="rgap") as lab:
        link = lab.backup_link
        # -Z root: tcpdump drops to its own user after the first file, and could not
        # create the next ones in a root-owned directory.
        dump = subprocess.Popen(lab.exec_argv("m", [
            "tcpdump", "-Z", "root", "-i", link.media_if, "-s", "0", "-U", "-G", "2",
            "-w", str(out / "job-%H%M%S.pcap"), "tcp or icmp"]), stderr=subprocess.DEVNULL)
        agent = subprocess.Popen(lab.exec_argv("a", [
            sys.executable, "-m", "flowcheck.lab", "agent", "--agent-range", "6001-6100",
            "--bytes", BYTES, "--chunk-delay", "0.05"]), stdout=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            subprocess.run(lab.exec_argv("m", [
                sys.executable, "-m", "flowcheck.lab", "media", "--agent", link.agent_ip,
                "--resources", "2", "--bytes", BYTES]), check=True, capture_output=True)
            time.sleep(2.0)  # past the job: no capture_ended_early
        finally:
            dump.send_signal(signal.SIGINT)
            dump.wait(timeout=10)
            agent.terminate()
            agent.wait(timeout=10)
    return sorted(out.glob("job-*.pcap"))


def _analysis(files: list[Path]) -> Analysis:
    config = build_config({"media_servers": ["10.77.0.1"], "remote_agents": ["10.77.0.2"],
                           "media_range": "5001-5100", "agent_range": "6001-6100",
                           "resources": 2, "profile": "backup-exec-9"})
    return analyze(read_traffic([str(f) for f in files], config), config)


def test_a_missing_file_of_a_time_rotated_capture_is_a_hole(rotated: list[Path],
                                                            tmp_path: Path) -> None:
    """Fails before: PASS, no capture_ring_gap, capture_loss blamed on the sniffer."""
    whole = _analysis(rotated)
    assert whole.verdict == "pass", [f.as_dict() for f in whole.findings]
    assert "capture_ring_gap" not in {f.code for f in whole.findings}
    # A folder, as the trial: every file but the middle one of those with packets (the
    # first, tcpdump's at its start, may hold none).
    full = [path for path in rotated if path.stat().st_size > 24]
    assert len(full) >= 4, rotated
    index = len(full) // 2
    before, missing, after = full[index - 1], full[index], full[index + 1]
    folder = tmp_path / "job"
    folder.mkdir()
    for path in rotated:
        if path != missing:
            shutil.copy(path, folder / path.name)
    analysis = _analysis([folder])
    [gap] = [f for f in analysis.findings if f.code == "capture_ring_gap"]
    assert f"between {before.name} and {after.name}" in gap.message, gap.message
    assert "a capture cut by time (tcpdump -G, a period of 2 s)" in gap.message, gap.message
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert session.steps[4].status == "unknown"
    assert "capture_ring_gap" in session.steps[4].detail, session.steps[4].detail
    # The control stream's messages sent then are the hole's, not the sniffer's loss.
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "the sniffer lost them" not in loss.message, loss.message
    assert f"spans a hole in the capture cut by time (capture_ring_gap: between " \
        f"{before.name} .. {after.name})" in loss.message, loss.message
    assert "so the hole may hold much more than these bytes" in loss.message
    assert "%" not in loss.message  # not "0.011%" of what the files hold


@pytest.mark.parametrize(("name", "seconds"), [
    ("job-102840.pcap", 10 * 3600 + 28 * 60 + 40), ("cap-1030.pcap.gz", 10 * 3600 + 30 * 60),
    ("d/x-20261207-102840.pcap", 1796601600 + 37720), ("e1796553600.pcap", 1796553600),
    ("job-1.pcap", None), ("job-256140.pcap", None)])
def test_name_times(name: str, seconds: float | None) -> None:
    assert name_seconds(name) == seconds


def test_a_quiet_time_with_connections_open_is_no_hole(rotated: list[Path],
                                                       tmp_path: Path) -> None:
    """The whole rotation with its later files moved 6 s on (editcap -t) and renamed so:
    names three periods apart and packets 6 s apart, connections open across, as a job
    waiting with its connections idle; but no connection misses a byte, so no hole."""
    full = [path for path in rotated if path.stat().st_size > 24]
    assert len(full) >= 4, rotated
    cut = len(full) // 2
    folder = tmp_path / "job"
    folder.mkdir()
    for index, path in enumerate(rotated):
        if path not in full[cut:]:
            shutil.copy(path, folder / path.name)
            continue
        seconds = name_seconds(path.name)
        assert seconds is not None
        later = int(seconds + 6 * (index >= rotated.index(full[cut]))) % 86400
        name = f"job-{later // 3600:02d}{later // 60 % 60:02d}{later % 60:02d}.pcap"
        subprocess.run(["editcap", "-t", "6", str(path), str(folder / name)], check=True,
                       capture_output=True)
    analysis = _analysis([folder])
    assert len(analysis.traffic.file_gaps) >= 1  # the 6 s lie between two files
    assert "capture_ring_gap" not in {f.code for f in analysis.findings}, \
        [f.as_dict() for f in analysis.findings]
