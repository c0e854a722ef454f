"""A capture cut by time (tcpdump -G) whose later files hold only NDP or ARP is one
capture, not a job that could not be judged (review56l, second read of mergedsets).

verify.unjudged_files warned for every file of a set without one TCP packet unless it was
a ring's part (its numbering); tcpdump -G names its files by strftime, so the quiet
files after a clean job (IPv6 router solicitations, an ARP request) each read
no_control_session and the set INCONCLUSIVE, where the files before mergedsets passed.
Real components: ndmjob between lab namespaces, tcpdump -G rotating on M's veth.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from flowcheck.config import build_config
from flowcheck.lab import ndmjob
from flowcheck.lab.netns import lab_network
from flowcheck.pipeline import Analysis, analyze, read_traffic

pytestmark = pytest.mark.lab

ROTATE_SECONDS = 3


def _arp_only(lab_exec: list[str], interface: str) -> None:
    """Two broadcast ARP requests for an address no host has, from M (scapy)."""
    subprocess.run([*lab_exec, "python", "-c",
                    "from scapy.all import ARP, Ether, sendp; "
                    "sendp(Ether(dst='ff:ff:ff:ff:ff:ff')/ARP(pdst='10.77.0.9'), "
                    f"iface='{interface}', count=2, verbose=0)"], check=True)


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A clean ndmjob backup captured on M with tcpdump -G, then a quiet time and ARP:
    the files in name order (the job's first, the last ARP alone)."""
    out = tmp_path_factory.mktemp("rotated")
    with lab_network(prefix="r56l") as lab, \
            tempfile.TemporaryDirectory(prefix="fc-r56l-") as workdir:
        workspace = ndmjob.prepare_workspace(Path(workdir))
        daemon = ndmjob.NdmjobDaemon(lab, workspace, 10000)
        link = lab.backup_link
        # -Z root: tcpdump drops to its own user after the first file, and could not
        # create the next ones in a root-owned directory.
        dump = subprocess.Popen(lab.exec_argv("m", [
            "tcpdump", "-Z", "root", "-U", "-i", link.media_if, "-G", str(ROTATE_SECONDS),
            "-w", str(out / "cap-%H%M%S.pcap")]), stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.5)
            code, log = ndmjob.run_backup(lab, workspace)
            assert code == 0, log[-500:]
            time.sleep(ROTATE_SECONDS + 1)
            _arp_only(lab.exec_argv("m", []), link.media_if)
            time.sleep(1)
        finally:
            dump.send_signal(signal.SIGINT)
            dump.wait(timeout=10)
            daemon.stop()
    return sorted(out.glob("cap-*.pcap"))


def _analysis(files: list[Path]) -> Analysis:
    config = build_config({"media_servers": ["10.77.0.1"], "remote_agents": ["10.77.0.2"],
                           "media_range": "5001-5100", "agent_range": "6001-6100"})
    return analyze(read_traffic([str(f) for f in files], config), config)


def test_a_quiet_file_of_a_time_rotated_capture_is_no_other_job(rotated: list[Path]) -> None:
    """Fails before: INCONCLUSIVE, no_control_session for the ARP-only file."""
    alone = _analysis(rotated[-1:])
    assert alone.traffic.captures[0].non_tcp == alone.traffic.captures[0].packets > 0
    assert alone.verdict == "inconclusive"  # alone, nothing of a job is judged
    analysis = _analysis(rotated)
    assert len(rotated) >= 2 and len(analysis.sessions) == 1
    assert analysis.verdict == "pass", [f.as_dict() for f in analysis.findings]
    assert "no_control_session" not in {f.code for f in analysis.findings}


def test_a_file_of_the_same_names_and_time_still_warns(rotated: list[Path],
                                                        tmp_path: Path) -> None:
    """The exemption reads the files' times: the ARP-only file given again under a
    name of the same form, its packets within the job's file's time (two capture points
    at once, `host1.pcap`, `host2.pcap`), is not a part of one capture cut by time."""
    job, quiet = rotated[0], rotated[-1]
    first = _analysis([job]).traffic.captures[0].span
    assert first is not None
    copied, shifted = tmp_path / "cap-000000.pcap", tmp_path / "cap-000001.pcap"
    copied.write_bytes(job.read_bytes())
    # editcap -t moves the ARP file's packets into the job file's time.
    quiet_start = _analysis([quiet]).traffic.captures[0].span
    assert quiet_start is not None
    subprocess.run(["editcap", "-t", f"{first[0] - quiet_start[0] + 0.001:.6f}", str(quiet),
                    str(shifted)], check=True, capture_output=True)
    analysis = _analysis([copied, shifted])
    assert analysis.verdict == "inconclusive"
    assert [f.code for f in analysis.findings if f.code == "no_control_session"] == \
        ["no_control_session"]


def test_an_empty_file_of_a_rotation_neither_makes_nor_breaks_it() -> None:
    """tcpdump -G often writes its first file empty (no packet: no span). Such a file
    goes with its rotation; it used to disqualify the whole group, and gwords' lab test
    failed whenever tcpdump wrote one (its -G neighbours read as time no file covers)."""
    from flowcheck.model import CaptureInfo
    from flowcheck.sources.ring import time_rotated

    def part(name: str, span: tuple[float, float] | None) -> CaptureInfo:
        info = CaptureInfo(f"/d/{name}", link_types=["EN10MB"])
        info.span = span
        return info

    files = [part("job-101440.pcap", None), part("job-101442.pcap", (2.0, 3.9)),
             part("job-101444.pcap", (4.0, 5.9))]
    assert time_rotated(files) == {info.path for info in files}
    # one file with packets beside an empty one tells no rotation
    assert time_rotated(files[:2]) == set()
    # overlapping spans: two capture points, not one rotation
    files[2].span = (3.0, 5.0)
    assert time_rotated(files) == set()
