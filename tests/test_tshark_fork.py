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
stderr, a failing capture's errors naming that capture (not the server's), a relative
path read from the folder the caller is in. A request of any length (a path longer than
the system takes: tshark's own error) and signals caught while the server reads or waits
leave the server answering each request with its own status.
(The fallbacks, tshark started for each capture: test_tshark_fallbacks.)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest
import tshark_fork
from run_shared import run_shared
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
    """A tshark of its own's exit status and rows for `capture` (no server)."""
    done = subprocess.run(command(capture, FIELDS, out_of_order), capture_output=True,
                          text=True)
    return done.returncode, done.stdout


@run_shared  # one tshark a run per stored capture and order, whichever test asks first
def stored_alone(capture: Path, out_of_order: bool) -> tuple[int, str]:
    """alone() of a stored capture, which no test changes: the reference the server's
    rows are held to (snaplen-54's by four tests, tls-clean's by two)."""
    assert capture.is_relative_to(ROOT / "captures"), capture
    return alone(capture, out_of_order)


def forked(server: tshark_fork.Server, capture: Path, scratch: Path) -> tuple[int, str]:
    status = server.run(capture, scratch / "rows", scratch / "errors")
    return status, (scratch / "rows").read_text(encoding="utf-8")


@needs_tshark
@needs_cc
@pytest.mark.parametrize("names", [True, False])
@pytest.mark.parametrize("out_of_order", [True, False])
def test_each_capture_read_after_the_others_gives_tsharks_own_rows(
        tmp_path: Path, out_of_order: bool, names: bool) -> None:
    """names: False, the children without Wireshark's name files, as tshark_tcp's
    shared run reads (its rows still tshark's own, names and all)."""
    captures = [ROOT / name for name in HARDEST]
    library = tshark_fork.library(CACHE)
    assert library is not None
    server = tshark_fork.Server(command(captures[-1], FIELDS, out_of_order), library,
                                names=names)
    try:
        rows = {capture: forked(server, capture, tmp_path) for capture in captures}
    finally:
        server.close()
    for capture in captures:
        status, out = stored_alone(capture, out_of_order)
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
        assert forked(server, whole, tmp_path) == stored_alone(whole, True)
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
        # A server of its own without the name files (names=False): the same again.
        plain = tshark_fork.run(argv, names=False)
        assert (plain.returncode, plain.stdout, plain.stderr) == (
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


@needs_tshark
@needs_cc
def test_run_reads_a_relative_path_from_the_callers_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server started in one folder, then a capture of the same name in another: each
    read from the folder the caller is in, as a tshark of its own reads it."""
    argv = ["tshark", "-n", "-r", "capture.pcap", "-T", "fields", "-e", "frame.number"]
    read = []
    for name in ("snaplen-54", "tls-clean"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "capture.pcap").write_bytes((ROOT / f"captures/lab/{name}.pcap").read_bytes())
        monkeypatch.chdir(folder)
        read.append(tshark_fork.run(argv, check=True).stdout)
        assert read[-1] == subprocess.run(argv, capture_output=True, text=True).stdout
    assert read[0] != read[1]  # two captures of other lengths: the second folder's read


@needs_tshark
@needs_cc
def test_a_request_longer_than_any_path_gets_tsharks_error_and_the_next_its_rows(
        tmp_path: Path) -> None:
    """A capture path of 20,000 bytes (more than the request line the server once read,
    16 KiB, and than the system takes, 4 KiB): the server's child fails as tshark does
    (its status, "too long"), and the next capture gets its own rows (no reply out of
    step); tshark_fork.run gives a tshark of its own's status and error, which names the
    path (not the server's placeholder)."""
    long = tmp_path.joinpath(*["x" * 199] * 100, "capture.pcap")
    assert len(str(long)) > 20_000
    argv = ["tshark", "-n", "-r", str(long), "-T", "fields", "-e", "frame.number"]
    own = subprocess.run(argv, capture_output=True, text=True)
    assert own.returncode != 0 and f'"{str(long)[:40]}' in own.stderr
    done = tshark_fork.run(argv)
    assert (done.returncode, done.stdout, done.stderr) == (
        own.returncode, own.stdout, own.stderr)
    whole = ROOT / "captures/lab/snaplen-54.pcap"
    library = tshark_fork.library(CACHE)
    assert library is not None
    server = tshark_fork.Server(command(whole, FIELDS), library)
    try:
        assert forked(server, long, tmp_path) == (own.returncode, "")
        assert "too long" in (tmp_path / "errors").read_text(encoding="utf-8")
        assert forked(server, whole, tmp_path) == stored_alone(whole, True)
    finally:
        server.close()


# Caught without SA_RESTART: a read or a wait the signal interrupts fails with EINTR.
_CATCH_USR1 = r"""
#include <signal.h>
#include <string.h>
static void noted(int number) { (void)number; }
__attribute__((constructor)) static void catch_usr1(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = noted;
    sigaction(SIGUSR1, &action, NULL);
}
"""


@needs_tshark
@needs_cc
def test_signals_while_the_server_reads_or_waits_lose_no_request(tmp_path: Path) -> None:
    """tshark_fork.c built with a SIGUSR1 handler that does not restart system calls,
    the server sent SIGUSR1 every 2 ms while it waits for its children and for the next
    request: each capture still gets its own status and rows, and the server goes on."""
    handler = tmp_path / "catch_usr1.c"
    handler.write_text(_CATCH_USR1)
    library = tmp_path / "tshark_fork_usr1.so"
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler is not None
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(library),
                    str(tshark_fork.SOURCE), str(handler), "-ldl"], check=True)
    captures = [ROOT / name for name in HARDEST[:2]]
    server = tshark_fork.Server(command(captures[0], FIELDS), library)
    try:
        expected = [forked(server, capture, tmp_path) for capture in captures]  # caught now
        stop = threading.Event()
        sent = []

        def pester() -> None:
            while not stop.wait(0.002):
                os.kill(server.pid, signal.SIGUSR1)
                sent.append(1)

        thread = threading.Thread(target=pester)
        thread.start()
        try:
            rows = [forked(server, capture, tmp_path) for capture in captures * 3]
        finally:
            stop.set()
            thread.join()
        assert len(sent) > 10
        assert rows == expected * 3
        assert expected == [stored_alone(capture, True) for capture in captures]
    finally:
        server.close()
