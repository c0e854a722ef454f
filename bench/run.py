"""Speed benchmark: flowcheck against tshark, a dpkt loop, tcptrace and scapy.

    python bench/run.py [--packets 700000] [--tshark-slice 50000] [--dpkt-slice 200000]
                        [--scapy-slice 5000] [--timeout 600] [--repeat 3]

Builds bench/work/capture-N.pcap once (see bench/build.py), then runs every tool as a
whole process (start-up and imports included) and prints, per tool: packets read, wall
time, packets/s, peak RSS and flowcheck's packets/s as a multiple of the tool's. Slower
tools read a slice (the first K packets) so they finish: slices make packets/s
comparable, not wall times. flowcheck itself runs --repeat times and its median run is
reported (the machine may be shared). Targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
SOURCE = ROOT / "captures" / "ndmjob" / "v4-backup.pcap"
sys.path.insert(0, str(HERE))

from build import build, write_slice  # noqa: E402

DPKT_LOOP = """
import sys, dpkt, socket
flows = {}
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        key = (ip.src, tcp.sport, ip.dst, tcp.dport)
        entry = flows.setdefault(key, [0, 0])
        entry[0] += 1
        entry[1] += len(tcp.data)
print(len(flows), "directions")
"""

SCAPY_LOOP = """
import sys
from scapy.utils import PcapReader
count = 0
for packet in PcapReader(sys.argv[1]):
    packet.summary()
    count += 1
print(count, "packets")
"""


@dataclass
class Result:
    tool: str
    packets: int
    wall: float | None  # None: failed or timed out
    rss_mb: float
    note: str = ""

    @property
    def pps(self) -> float | None:
        return self.packets / self.wall if self.wall else None


def measure(tool: str, argv: list[str], packets: int, timeout: float) -> Result:
    """Run argv to completion; wall time and this child's own peak RSS (os.wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            process.kill()
            _, status, usage = os.wait4(process.pid, 0)
            return Result(tool, packets, None, usage.ru_maxrss / 1024, f"timeout {timeout:.0f}s")
        time.sleep(0.005)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    note = ""
    if process.returncode:
        note = f"exit {process.returncode}: " + process.stderr.read().decode()[-200:].strip()
        wall = None
    return Result(tool, packets, wall, usage.ru_maxrss / 1024, note)


def measure_median(tool: str, argv: list[str], packets: int, timeout: float,
                   repeat: int) -> Result:
    """The median run of `repeat` (by wall time; a failed run counts as the slowest)."""
    runs = [measure(tool, argv, packets, timeout) for _ in range(max(1, repeat))]
    runs.sort(key=lambda run: float("inf") if run.wall is None else run.wall)
    median = runs[(len(runs) - 1) // 2]
    if len(runs) > 1:
        median.note = (median.note + f" median of {len(runs)}").strip()
    return median


def count_packets(path: Path) -> int:
    return write_slice(path, Path(os.devnull), 1 << 62)


def prepare(packets: int, slices: dict[str, int]) -> tuple[Path, int, dict[str, tuple[Path, int]]]:
    WORK.mkdir(parents=True, exist_ok=True)
    capture = WORK / f"capture-{packets}.pcap"
    if not capture.exists():
        print(f"building {capture} ({packets} added packets) ...", flush=True)
        partial = capture.with_suffix(".part")
        build(SOURCE, partial, packets)
        partial.rename(capture)
    total = count_packets(capture)
    sliced = {}
    for name, size in slices.items():
        path = WORK / f"capture-{packets}-first-{size}.pcap"
        if not path.exists():
            write_slice(capture, path, size)
        sliced[name] = (path, min(size, total))
    return capture, total, sliced


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=700_000, help="full-size packets added")
    parser.add_argument("--tshark-slice", type=int, default=50_000)
    parser.add_argument("--dpkt-slice", type=int, default=200_000)
    parser.add_argument("--scapy-slice", type=int, default=5_000)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--repeat", type=int, default=3, help="flowcheck runs (median shown)")
    args = parser.parse_args()
    capture, total, sliced = prepare(args.packets, {
        "tshark": args.tshark_slice, "dpkt": args.dpkt_slice, "scapy": args.scapy_slice})
    size_mb = capture.stat().st_size / 1e6
    print(f"capture: {capture.name}, {total} packets, {size_mb:.0f} MB")
    python = sys.executable
    env_root = str(ROOT)
    os.environ["PYTHONPATH"] = env_root + os.pathsep + os.environ.get("PYTHONPATH", "")
    runs: list[Result] = []
    # Read the file once so every tool starts with it in the page cache.
    count_packets(capture)
    # Byte-compile flowcheck as installing it does: with PYTHONDONTWRITEBYTECODE set, every
    # run would otherwise compile its modules again (about 50 ms of start-up).
    compileall.compile_dir(str(ROOT / "flowcheck"), quiet=1)
    runs.append(measure_median("flowcheck (python -m flowcheck.connections)",
                               [python, "-m", "flowcheck.connections", str(capture)], total,
                               args.timeout, args.repeat))
    cli = shutil.which("flowcheck")
    if cli:
        runs.append(measure_median("flowcheck connections --format json (CLI)",
                                   [cli, "connections", str(capture), "--format", "json"],
                                   total, args.timeout, args.repeat))
    path, count = sliced["tshark"]
    runs.append(measure(f"tshark -z conv,tcp, desegment off (first {count})",
                        ["tshark", "-n", "-q", "-o", "tcp.desegment_tcp_streams:FALSE",
                         "-z", "conv,tcp", "-r", str(path)], count, args.timeout))
    runs.append(measure(f"tshark -z conv,tcp (first {count})",
                        ["tshark", "-n", "-q", "-z", "conv,tcp", "-r", str(path)], count,
                        args.timeout))
    path, count = sliced["dpkt"]
    runs.append(measure(f"dpkt loop, per-4-tuple counts (first {count})",
                        [python, "-c", DPKT_LOOP, str(path)], count, args.timeout))
    runs.append(measure("tcptrace -n", ["tcptrace", "-n", str(capture)], total, args.timeout))
    path, count = sliced["scapy"]
    runs.append(measure(f"scapy PcapReader, full dissection (first {count})",
                        [python, "-c", SCAPY_LOOP, str(path)], count, args.timeout))
    report(runs)
    return 0


def report(runs: list[Result]) -> None:
    ours = runs[0]
    print(f"\n{'tool':55} {'packets':>9} {'wall s':>8} {'packets/s':>11} {'peak MB':>8} "
          f"{'flowcheck x':>11}")
    for run in runs:
        wall = f"{run.wall:8.2f}" if run.wall else f"{'-':>8}"
        pps = f"{run.pps:11,.0f}" if run.pps else f"{'-':>11}"
        ratio = (f"{ours.pps / run.pps:10.1f}x" if ours.pps and run.pps and run is not ours
                 else f"{'':>11}")
        print(f"{run.tool:55} {run.packets:9d} {wall} {pps} {run.rss_mb:8.0f} {ratio} "
              f"{run.note}")
    by_name = {run.tool.split()[0]: run for run in runs[1:]}
    print("\ntargets (reported, not asserted):")
    checks = [("flowcheck >= 1,000,000 packets/s end to end",
               bool(ours.pps and ours.pps >= 1e6))]
    for name, factor in (("tshark", 10), ("dpkt", 10), ("tcptrace", 1)):
        other = by_name.get(name)
        met = bool(ours.pps and other and other.pps and ours.pps >= factor * other.pps)
        checks.append((f">= {factor}x {name}'s packets/s", met))
    checks.append(("peak memory < 150 MB", ours.rss_mb < 150))
    for text, met in checks:
        print(f"  [{'met' if met else 'NOT met'}] {text}")


if __name__ == "__main__":
    sys.exit(main())
