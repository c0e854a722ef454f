"""tshark_fork (one tshark start, a forked child per capture) gives the rows of a tshark
started for the capture alone, byte for byte, on the stored captures where a dissection
could carry most from one capture to the next or differ between passes: holes the
sniffer left, segments cut by the snap length, path loss, reordering, a tunnel, ICMP
errors quoting TCP, NDMP upgraded to TLS (tshark's one pass decodes the NDMP messages
before the upgrade, a second pass -- sharkd, tshark -2 -- decodes them as TLS). Each is
read after the others in the same server, so a state kept from an earlier capture would
show. (All 421 stored captures, both orders: tests/tshark_fork_check.py, by hand.)

Also: a capture tshark fails on (cut in the middle of a packet) gives tshark's exit
status and rows, and the server goes on; a server whose library did not load gives no
answer (Gone), the case where tshark_tcp starts tshark itself. tshark_fork.run, which the
other tests' `tshark -r` runs go through, gives subprocess.run's exit status, stdout and
stderr, a failing capture's errors naming that capture (not the server's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import tshark_fork
from tshark_tcp import CACHE, FIELDS, command

ROOT = Path(__file__).resolve().parent.parent
HARDEST = [
    "captures/lab/tls-clean.pcap",
    "captures/lab/snaplen-54.pcap",
    "captures/ndmjob-sniffloss/fh-hole-mid-media.pcap.gz",
    "captures/ndmjob-pathloss/fh-pathloss-media.pcap.gz",
    "captures/trial36b-virtual/aws-mirror-reordered-clean.pcap",
    "captures/lab-trial22-tunnels/callback-rejected.erspan2split.pcap.gz",
    "captures/ndmjob-hostdown/v4-ifdown-back-agent.pcap.gz",
    "captures/ndmjob-pmtu/v4-pmtu-blackhole-at-agent.pcap",
]
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark missing")
needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                              reason="no C compiler: tshark_tcp starts tshark per capture")


def alone(capture: Path, out_of_order: bool) -> tuple[int, str]:
    done = subprocess.run(command(capture, FIELDS, out_of_order), capture_output=True,
                          text=True)
    return done.returncode, done.stdout


def forked(server: tshark_fork.Server, capture: Path, scratch: Path) -> tuple[int, str]:
    status = server.run(capture, scratch / "rows", scratch / "errors")
    return status, (scratch / "rows").read_text(encoding="utf-8")


@needs_tshark
@needs_cc
@pytest.mark.parametrize("out_of_order", [True, False])
def test_each_capture_read_after_the_others_gives_tsharks_own_rows(
        tmp_path: Path, out_of_order: bool) -> None:
    captures = [ROOT / name for name in HARDEST]
    library = tshark_fork.library(CACHE)
    assert library is not None
    server = tshark_fork.Server(command(captures[-1], FIELDS, out_of_order), library)
    try:
        rows = {capture: forked(server, capture, tmp_path) for capture in captures}
    finally:
        server.close()
    for capture in captures:
        status, out = alone(capture, out_of_order)
        assert status == 0 and out.count("\n") > 10
        assert rows[capture] == (status, out), capture


@needs_tshark
@needs_cc
def test_a_capture_tshark_fails_on_gives_its_status_and_the_server_goes_on(
        tmp_path: Path) -> None:
    whole = ROOT / "captures/lab/snaplen-54.pcap"
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole.read_bytes()[:-10])  # the last packet's record cut short
    library = tshark_fork.library(CACHE)
    assert library is not None
    server = tshark_fork.Server(command(whole, FIELDS), library)
    try:
        failed = forked(server, cut, tmp_path)
        assert failed[0] != 0
        assert "cut short" in (tmp_path / "errors").read_text(encoding="utf-8")
        assert failed == alone(cut, True)
        assert forked(server, whole, tmp_path) == alone(whole, True)
    finally:
        server.close()


@needs_tshark
def test_a_server_without_its_library_gives_no_answer(tmp_path: Path) -> None:
    capture = ROOT / "captures/lab/snaplen-54.pcap"
    server = tshark_fork.Server(command(capture, FIELDS), tmp_path / "missing.so")
    try:
        with pytest.raises(tshark_fork.Gone):
            server.run(capture, tmp_path / "rows", tmp_path / "errors")
    finally:
        server.close()


@needs_tshark
@needs_cc
def test_run_gives_what_a_tshark_of_its_own_gives(tmp_path: Path) -> None:
    whole = ROOT / "captures/lab/snaplen-54.pcap"
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole.read_bytes()[:-10])
    captures = [whole, cut, ROOT / "captures/lab/tls-clean.pcap", tmp_path / "missing.pcap"]
    for capture in captures:  # one server (the same options), a child each
        argv = ["tshark", "-n", "-r", str(capture), "-Y", "tcp.len > 0", "-T", "fields",
                "-e", "frame.number", "-e", "tcp.len"]
        done = tshark_fork.run(argv)
        alone = subprocess.run(argv, capture_output=True, text=True)
        assert (done.returncode, done.stdout, done.stderr) == (
            alone.returncode, alone.stdout, alone.stderr), capture
    assert "cut short" in tshark_fork.run([*argv[:3], str(cut), *argv[4:]]).stderr
    with pytest.raises(subprocess.CalledProcessError) as failed:
        tshark_fork.run(argv, check=True)
    assert f'"{tmp_path / "missing.pcap"}"' in failed.value.stderr


def test_a_server_that_cannot_start_leaves_no_pipe_open(tmp_path: Path) -> None:
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError):
        tshark_fork.Server([str(tmp_path / "no-such-tshark"), "-r", "x.pcap"],
                           tmp_path / "missing.so")
    assert set(os.listdir("/proc/self/fd")) == before
