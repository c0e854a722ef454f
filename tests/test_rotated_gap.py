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
from flowcheck.model import CaptureInfo, Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sources.rotation_gaps import group_seconds, name_seconds, rotation_holes

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
                "--resources", "2"]), check=True, capture_output=True)
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


@pytest.mark.parametrize(("names", "seconds"), [
    (["nas01-1028.pcap", "nas01-1029.pcap"], [37680.0, 37740.0]),  # was 01:10:28, :29
    (["host2-102840.pcap", "host2-102842.pcap"], [37720.0, 37722.0]),  # was none
    (["job-10-05-30.pcap", "job-10-05-32.pcap"], [36330.0, 36332.0]),  # the hour kept
    (["x-20261207-235958.pcap", "x-20261208-000000.pcap"], [1796687998.0, 1796688000.0]),
    (["r_00001_20261207104512.pcap", "r_00002_20261207104514.pcap"], [None, None]),
    (["e2026120710.pcap", "e2026120711.pcap"], [None, None])])  # %Y%m%d%H: no epoch
def test_a_rotations_name_times(names: list[str], seconds: list[float | None]) -> None:
    """Review56o: a name's own digits (`nas01-`, `host2-`) are no part of its time."""
    assert list(group_seconds(names).values()) == seconds


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
    # The 6 s lie between two files of one -G rotation and are no hole: one sniffer
    # watched them, so no file gap either (gwords).
    assert analysis.traffic.file_gaps == []
    assert "capture_ring_gap" not in {f.code for f in analysis.findings}, \
        [f.as_dict() for f in analysis.findings]


def _payload_frames(path: Path) -> dict[tuple[int, int], list[int]]:
    """Per (source port, destination port): the frames of `path` carrying TCP payload."""
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp.len > 0", "-T", "fields",
                          "-e", "frame.number", "-e", "tcp.srcport", "-e", "tcp.dstport"],
                         check=True, capture_output=True, text=True).stdout
    frames: dict[tuple[int, int], list[int]] = {}
    for line in out.splitlines():
        number, sport, dport = (int(field) for field in line.split("\t"))
        frames.setdefault((sport, dport), []).append(number)
    return frames


def test_a_quiet_time_after_a_lost_segment_is_no_hole(rotated: list[Path],
                                                      tmp_path: Path) -> None:
    """Review56o: a data connection that loses one segment to the sniffer (editcap
    deletes it from the file before the wait) and then waits 6 s (the later files moved
    on, renamed) misses bytes, but before the wait, not across it. Fails before: the
    wait read as a hole ("lacks 2 files"), capture_loss blamed it, step 5 unknown."""
    full = [path for path in rotated if path.stat().st_size > 24]
    sides = [_payload_frames(path) for path in full]
    # A boundary between two files a data connection sends across (NDMP's port aside).
    cut, key = next((index, key) for index in range(1, len(full))
                    for key, frames in sides[index - 1].items()
                    if 10000 not in key and len(frames) >= 3 and key in sides[index])
    lost = sides[cut - 1][key][len(sides[cut - 1][key]) // 2]
    folder = tmp_path / "job"
    folder.mkdir()
    for path in rotated:
        if path not in full[cut:]:
            args = ["--", str(lost)] if path == full[cut - 1] else []
            subprocess.run(["editcap", str(path), str(folder / path.name), *args],
                           check=True, capture_output=True)
            continue
        seconds = name_seconds(path.name)
        assert seconds is not None
        later = int(seconds + 6) % 86400
        name = f"job-{later // 3600:02d}{later // 60 % 60:02d}{later % 60:02d}.pcap"
        subprocess.run(["editcap", "-t", "6", str(path), str(folder / name)], check=True,
                       capture_output=True)
    analysis = _analysis([folder])
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "1,448 B" in loss.message and "hole" not in loss.message, loss.message
    assert "capture_ring_gap" not in {f.code for f in analysis.findings}, \
        [f.as_dict() for f in analysis.findings]
    [session] = analysis.sessions
    assert session.steps[4].status == "ok", session.steps[4].detail


DAY = 1796601600.0  # 2026-12-07 00:00:00 UTC


def _holes(spans: dict[str, tuple[float, float]], names: list[str],
           conn: Connection) -> list[tuple[str, str, int]]:
    """rotation_holes of files /c/NAME (spans by name; a name without one has no packet)
    and one connection: (file before, file after, files missing) each."""
    captures = [CaptureInfo(path=f"/c/{name}", link_types=["EN10MB"]) for name in names]
    holes = rotation_holes(captures, {f"/c/{n}": span for n, span in spans.items()}, [conn])
    return [(gap.before, gap.after, missing) for gap, missing, _, _ in holes]


def test_a_gap_belongs_to_the_last_stretch_before_it() -> None:
    """Review56o: a quiet time (names 6 s apart, packets 7 s) and, later, a missing file
    (names 4 s apart); the one connection across both misses bytes in the later one (its
    gap opens at the first packet after it). Only the later one is a hole; before, the
    quiet time was one too ("lacks 2 files", and step 5 named it first)."""
    names = ["job-235950.pcap", "job-235953.pcap", "job-235955.pcap", "job-000001.pcap",
             "job-000005.pcap"]
    spans = {"job-235950.pcap": (DAY - 10.5, DAY - 10.0),
             "job-235953.pcap": (DAY - 7.0, DAY - 5.5),
             "job-235955.pcap": (DAY - 5.45, DAY - 5.4),
             "job-000001.pcap": (DAY + 1.6, DAY + 2.9), "job-000005.pcap": (DAY + 4.4, DAY + 5.9)}
    conn = Connection("C1", "10.77.0.2", 6001, "10.77.0.1", 5003, DAY - 10.2, DAY + 5.8,
                      missed_bytes=1_900_000, gaps=1)
    conn.gap_times = [DAY + 4.4]
    assert _holes(spans, names, conn) == [("job-000001.pcap", "job-000005.pcap", 1)]
    conn.gap_times = [DAY - 6.0]  # a segment lost before both: neither is a hole
    assert _holes(spans, names, conn) == []


def test_a_file_missing_at_midnight_after_an_empty_first_file() -> None:
    """Review56o: tcpdump's first file (opened before any packet) is empty; the names
    cross midnight and the file of 23:59:58 is missing. Fails before: the files were put
    in the order of their names' time of day (000000 first), so the hole was never
    between two neighbours."""
    names = ["job-235950.pcap", "job-235954.pcap", "job-235956.pcap", "job-000000.pcap",
             "job-000002.pcap"]
    spans = {"job-235954.pcap": (DAY - 6.0, DAY - 4.0), "job-235956.pcap": (DAY - 3.9, DAY - 2.0),
             "job-000000.pcap": (DAY + 0.0, DAY + 1.9), "job-000002.pcap": (DAY + 2.0, DAY + 3.5)}
    conn = Connection("C1", "10.77.0.2", 6001, "10.77.0.1", 5003, DAY - 5.9, DAY + 3.4,
                      missed_bytes=1_900_000, gaps=1)
    conn.gap_times = [DAY + 0.0]
    assert _holes(spans, names, conn) == [("job-235956.pcap", "job-000000.pcap", 1)]


def _syn_frames(path: Path) -> list[tuple[int, bool]]:
    """(frame number, is a SYN-ACK) of each SYN of `path`."""
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp.flags.syn == 1", "-T",
                          "fields", "-e", "frame.number", "-e", "tcp.flags.ack"],
                         check=True, capture_output=True, text=True).stdout
    return [(int(number), ack in ("1", "True")) for number, ack in
            (line.split("\t") for line in out.splitlines())]


def test_a_handshake_lost_at_a_rotation_is_the_sniffers(rotated: list[Path],
                                                        tmp_path: Path) -> None:
    """A data connection's SYN and SYN-ACK lost just as tcpdump -G opened a new file: the
    file holding them cut there (its frames before them appended to the file before,
    mergecap -a; the two deleted; the rest kept under its name). The names show one
    sniffer ran throughout, and no file is missing. Fails before (gwords): "may have been
    sent in time that lies between two of its files ...: if no sniffer ran then"."""
    full = [path for path in rotated if path.stat().st_size > 24]
    # The first file after the first one with packets that holds a SYN and its SYN-ACK.
    index, syn = next((index, frames[0][0]) for index, frames in
                      ((index, _syn_frames(full[index])) for index in range(1, len(full)))
                      if len(frames) >= 2 and not frames[0][1] and frames[1][1]
                      and frames[1][0] == frames[0][0] + 1)
    before, cut = full[index - 1], full[index]
    folder = tmp_path / "job"
    folder.mkdir()
    for path in rotated:
        if path not in (before, cut):
            shutil.copy(path, folder / path.name)
    parts = []
    if syn > 1:
        head = tmp_path / "head.pcap"
        subprocess.run(["editcap", "-r", str(cut), str(head), f"1-{syn - 1}"], check=True,
                       capture_output=True)
        parts.append(str(head))
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(folder / before.name),
                    str(before), *parts], check=True, capture_output=True)
    subprocess.run(["editcap", str(cut), str(folder / cut.name), f"1-{syn + 1}"],
                   check=True, capture_output=True)
    analysis = _analysis([folder])
    assert analysis.traffic.file_gaps == []
    assert "capture_ring_gap" not in {f.code for f in analysis.findings}
    [loss] = [f.message for f in analysis.findings if f.code == "capture_loss"]
    assert "so the sniffer lost them, not the network" in loss, loss
    assert "between two of its files" not in loss, loss
    assert "data connection" in loss, loss
    [session] = analysis.sessions
    [step] = [s for s in session.steps if s.step == 4]
    assert "between the files" not in step.detail, step.detail
