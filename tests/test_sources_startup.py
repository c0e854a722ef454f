"""Start-up cost and the progress bar: heavy modules stay unloaded unless needed."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from capture_factory import tcp_packet, write_pcap

ROOT = Path(__file__).parent.parent

IMPORTS = """
import sys
from flowcheck.sources import iter_batches, truncation_findings
count = sum(len(batch) for batch in iter_batches([sys.argv[1]], progress=True))
heavy = sorted({name.split(".")[0] for name in sys.modules}
               & {"scapy", "pyshark", "networkx", "rich", "typer"})
print(count, heavy)
"""


def test_reading_imports_no_heavy_module(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "a.pcap", [(1.0, tcp_packet("10.0.0.1", "10.0.0.2", 1, 2))])
    # stderr is a pipe here, not a terminal: progress=True must not even import rich.
    result = subprocess.run([sys.executable, "-c", IMPORTS, str(path)], capture_output=True,
                            text=True, check=True, cwd=ROOT)
    assert result.stdout.split("\n")[0] == "1 []"


def _run_with_terminal_stderr(argv: list[str], timeout: float) -> tuple[int, bytes, bytes]:
    """Run argv with stderr on a pseudo-terminal (stdout a pipe): (returncode, stdout,
    what was drawn on the terminal)."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=terminal)
        os.close(terminal)
        output, _ = process.communicate(timeout=timeout)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end closed: all was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
    return process.returncode, output, drawn


def test_progress_bar_drawn_on_a_terminal(tmp_path: Path) -> None:
    records = [(1.0 + n, tcp_packet("10.0.0.1", "10.0.0.2", 1, 2, payload=b"x" * 1000))
               for n in range(500)]
    path = write_pcap(tmp_path / "a.pcap", records)
    returncode, output, drawn = _run_with_terminal_stderr(
        [sys.executable, "-c", IMPORTS, str(path)], timeout=60)
    assert returncode == 0
    assert output.decode().split("\n")[0] == "500 ['rich']"
    assert b"reading" in drawn


def test_analyze_shows_the_progress_bar_with_packets_per_second(tmp_path: Path) -> None:
    """`analyze` on a terminal: bytes read and packets/s, as `connections`."""
    records = [(1.0 + n / 100, tcp_packet("10.0.0.1", "10.0.0.2", 1, 2, payload=b"x" * 1000))
               for n in range(3000)]
    path = write_pcap(tmp_path / "a.pcap", records)
    returncode, output, drawn = _run_with_terminal_stderr(
        [sys.executable, "-m", "flowcheck", "analyze", str(path), "--format", "json"],
        timeout=120)
    assert returncode in (0, 1)  # a verdict, not an error
    assert output.startswith(b"{")
    assert b"reading" in drawn and b"packets/s" in drawn


BLAS_THREADS = """
import os, sys
{fake}
import flowcheck
import numpy
print(os.environ.get("OPENBLAS_NUM_THREADS"), len(os.listdir("/proc/self/task")))
"""


def test_flowcheck_commands_start_no_blas_threads() -> None:
    """numpy's OpenBLAS would start (and spin) a thread per core at import: flowcheck's
    own commands ask for none, programs that only import flowcheck keep their setting."""
    env = {key: value for key, value in os.environ.items() if "NUM_THREADS" not in key}
    as_command = "sys.orig_argv = [sys.executable, '-m', 'flowcheck.connections', 'x.pcap']"
    for fake, expected in ((as_command, "1"), ("", "None")):
        result = subprocess.run([sys.executable, "-c", BLAS_THREADS.format(fake=fake)],
                                capture_output=True, text=True, check=True, cwd=ROOT, env=env)
        setting, tasks = result.stdout.split()
        assert setting == expected
        if expected == "1":
            assert tasks == "1"  # the interpreter's own thread only
    env["OPENBLAS_NUM_THREADS"] = "3"  # the user's choice stands
    result = subprocess.run([sys.executable, "-c", BLAS_THREADS.format(fake=as_command)],
                            capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    assert result.stdout.split()[0] == "3"


TRACKING_IMPORTS = """
import sys
from flowcheck.connections import track_connections
for capture in sys.argv[1:]:
    result = track_connections([capture])
    print(len(result.connections), "numpy.ma" in sys.modules)
"""


# A plain capture, and captures through the paths that called np.unique, np.median or a
# sorting np.isin: two capture points (their clocks' offset, a median), a capture copied
# at two points of a tunnel (super-frame keys), link types decode does not know.
NUMPY_MA_FREE = ("captures/ndmjob/v4-backup.pcap",
                 "captures/field38-matrix/agent-killed-snap96-two-points.pcap",
                 "captures/lab-trial22-tunnels/callback-rejected.erspan2split.pcap.gz",
                 "tests/data/tcpdump-tests/802_15_4-data.pcap")


def test_tracking_leaves_numpy_ma_unloaded() -> None:
    """numpy 2.3+'s plain np.unique imports numpy.ma (40 ms, more than a 10 MB capture's
    whole tracking) on its first call, and so do np.median and np.isin against a long
    list: the reading and tracking of every batch use flowcheck.arrays' distinct,
    median and one_of instead. One process tracks the captures in turn (was one each:
    the same assertions): numpy.ma, once loaded, stays, so the first capture whose
    tracking loads it reads True, and so fails, as it did alone."""
    result = subprocess.run([sys.executable, "-c", TRACKING_IMPORTS, *NUMPY_MA_FREE],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    lines = result.stdout.splitlines()
    assert len(lines) == len(NUMPY_MA_FREE), result.stdout
    for name, line in zip(NUMPY_MA_FREE, lines, strict=True):
        connections, loaded = line.split()
        assert int(connections) > 0 or "tcpdump-tests" in name, name  # 802.15.4: no TCP
        assert loaded == "False", name
