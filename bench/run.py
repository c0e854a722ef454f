"""Speed benchmark: flowcheck against tcptrace, tshark and a dpkt loop, per capture.

    python bench/run.py [--captures NAME,...] [--repeat 3] [--tshark-slice 50000]
                        [--dpkt-slice 200000] [--timeout 600]
    python bench/run.py --list

Every capture of the CAPTURES table is built once into bench/work/NAME.pcap (git-ignored;
see each builder), then every tool runs on it as a whole process (start-up and imports
included) and the script prints, per capture: packets read, wall time, packets/s, peak
RSS and flowcheck's packets/s as a multiple of each peer's, then one summary line per
capture. Slower tools read a slice (the first K packets) so they finish: slices make
packets/s comparable, not wall times. flowcheck's three commands run --repeat times, in
turn (engine, connections, analyze, then again), and each one's median run is reported
(the machine may be shared; the load average is printed). Targets are reported, never
asserted.

To add a capture, add a row to CAPTURES: a name, a builder `build(target: Path) -> str`
(writes the pcap, returns a note such as the sniffer's statistics) and what it is.
"""

from __future__ import annotations

import argparse
import compileall
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
sys.path.insert(0, str(HERE))

import build as synthetic  # noqa: E402
import build_encap  # noqa: E402
import lab_builds  # noqa: E402
import short_connections  # noqa: E402

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


@dataclass(frozen=True)
class Capture:
    name: str  # bench/work/NAME.pcap (NAME.pcapng if pcapng)
    build: Callable[[Path], str]
    about: str
    pcapng: bool = False
    # Another capture holding the same packets as pcap: its packet count and the
    # slices tshark and the dpkt loop read (dpkt.pcap reads pcap only).
    same_packets_as: str | None = None


def _with_loss(target: Path, every: int = 500) -> str:
    """(b): capture (a) with one frame in `every` removed by editcap (deterministic)."""
    source = ensure(CAPTURES_BY_NAME["ndmjob-1g"])
    total = synthetic.write_slice(source, Path(os.devnull), 1 << 62)
    frames = list(range(every, total + 1, every))
    # editcap takes at most 512 selections a run: highest frames first, so the frame
    # numbers of the ones still to remove do not move.
    current = source
    for end in range(len(frames), 0, -500):
        step = target.with_suffix(f".{end}")
        subprocess.run(["editcap", "-F", "pcap", str(current), str(step),
                        *map(str, frames[max(0, end - 500):end])], check=True)
        if current != source:
            current.unlink()
        current = step
    current.rename(target)
    return f"{len(frames)} frames removed from {source.name}"


CAPTURES = [
    Capture("ndmjob-1g", lab_builds.ndmjob_backup,
            "(a) real ndmjob NDMP v4 backup of 1 GiB, lab namespaces, tcpdump (its own loss)"),
    Capture("ndmjob-1g-sniffloss", lab_builds.ndmjob_backup_sniffloss,
            "(a) captured as a busy host's tcpdump does: small buffer, a writer that stalls "
            "(real sniffer loss, kernel-counted)"),
    Capture("ndmjob-1g-loss500", _with_loss,
            "(b) (a) with one frame in 500 removed (editcap): sniffer loss"),
    Capture("short-connections", lambda p: f"{short_connections.build(p)} packets",
            "(c) 20,000 short connections from the lab's real handshakes"),
    Capture("short-connections-200k", short_connections.build_large,
            "(c) ten times over: 200,000 short connections, each its own 4-tuple "
            "(start-up no longer decides the rate)"),
    Capture("mixed-sizes", lab_builds.mixed_traffic,
            "(d) irregular request/response sizes, 48 connections, lab, tcpdump"),
    Capture("synthetic-bulk", lambda p: synthetic.build(synthetic.SOURCE, p, 700_000) or "",
            "a perfectly regular bulk transfer (v4-backup.pcap extended; the old benchmark)"),
]



def _encapsulated(build: Callable[[Path, Path], int]) -> Callable[[Path], str]:
    """(a) rewritten by a bench/build_encap.py builder (VXLAN, or TSO super-frames)."""
    def write(target: Path) -> str:
        source = ensure(CAPTURES_BY_NAME["ndmjob-1g"])
        return f"{build(source, target)} packets from {source.name}"
    return write


CAPTURES += [
    Capture("ndmjob-1g-vxlan", _encapsulated(build_encap.build_vxlan),
            "(a) with every frame inside VXLAN (UDP 4789): a data-centre overlay"),
    Capture("ndmjob-1g-tso", _encapsulated(build_encap.build_tso),
            "(a) as the sending host's sniffer sees it with segmentation offload: runs of "
            "up to 44 segments in one super-frame, IPv4 total length 0"),
]


def _as_pcapng(name: str) -> Callable[[Path], str]:
    """Capture `name` as dumpcap and Wireshark write it (editcap -F pcapng)."""
    def write(target: Path) -> str:
        source = ensure(CAPTURES_BY_NAME[name])
        subprocess.run(["editcap", "-F", "pcapng", str(source), str(target)], check=True)
        return f"{source.name} as pcapng"
    return write


CAPTURES += [
    Capture("mixed-sizes-pcapng", _as_pcapng("mixed-sizes"),
            "(d) as pcapng, the format dumpcap and Wireshark write", pcapng=True,
            same_packets_as="mixed-sizes"),
]
CAPTURES_BY_NAME = {capture.name: capture for capture in CAPTURES}


def ensure(capture: Capture) -> Path:
    """The capture's file, built first if missing (built under .part, then renamed)."""
    path = WORK / f"{capture.name}.{'pcapng' if capture.pcapng else 'pcap'}"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        print(f"building {path.name}: {capture.about} ...", flush=True)
        partial = path.with_suffix(".part")
        # Built in a fresh process: Linux carries a process's peak RSS across fork and
        # exec, so every tool measured after an in-process build would report at least
        # the builder's peak (os.wait4's ru_maxrss).
        # Inside such a builder already (a capture built from another: (b) from (a)), in
        # that process: a pool's worker may not start one of its own.
        if multiprocessing.current_process().daemon:
            note = _build(capture.name, str(partial))
        else:
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                note = pool.apply(_build, (capture.name, str(partial)))
        partial.rename(path)
        print(f"  built: {note}", flush=True)
    return path



def _build(name: str, target: str) -> str:
    return CAPTURES_BY_NAME[name].build(Path(target))

@dataclass
class Result:
    tool: str
    packets: int
    wall: float | None  # None: failed or timed out
    rss_mb: float
    note: str = ""
    cpu: float | None = None  # user + system seconds of the child (os.wait4's rusage)

    @property
    def pps(self) -> float | None:
        return self.packets / self.wall if self.wall else None

    @property
    def cpu_pps(self) -> float | None:
        """Packets per CPU second (every thread's CPU time: flowcheck's read-ahead thread
        and tshark's second thread count against them). For a single-threaded tool it
        is what wall time would give on an idle machine; flowcheck's engine reads the
        next chunk on the second core, so its wall time on an idle machine is shorter."""
        return self.packets / self.cpu if self.cpu and self.wall else None


def measure(tool: str, argv: list[str], packets: int, timeout: float,
            ok_codes: tuple[int, ...] = (0,)) -> Result:
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
    code = os.waitstatus_to_exitcode(status)
    note = ""
    if code not in ok_codes:
        note = f"exit {code}: " + process.stderr.read().decode()[-200:].strip()
        wall = None
    return Result(tool, packets, wall, usage.ru_maxrss / 1024, note,
                  usage.ru_utime + usage.ru_stime)


Job = tuple[str, list[str], tuple[int, ...]]  # (tool, argv, exit codes that are results)


def measure_interleaved(jobs: list[Job], packets: int, timeout: float,
                        repeat: int) -> list[Result]:
    """Each job's median run of `repeat`, the jobs run in turn, round after round: a
    change in the machine's load falls on all of them alike, so their ratios (`analyze`
    against `connections`) compare runs of the same minutes. Run one job after another,
    three runs each, a sub-second capture's ratio moved by tenths (bench/README.md)."""
    runs: list[list[Result]] = [[] for _ in jobs]
    for _ in range(max(1, repeat)):
        for job_runs, (tool, argv, ok_codes) in zip(runs, jobs, strict=True):
            job_runs.append(measure(tool, argv, packets, timeout, ok_codes))
    return [_median(job_runs) for job_runs in runs]


def _median(runs: list[Result]) -> Result:
    """The median run (by wall time; a failed run counts as the slowest)."""
    runs.sort(key=lambda run: float("inf") if run.wall is None else run.wall)
    median = runs[(len(runs) - 1) // 2]
    if len(runs) > 1:
        median.note = (median.note + f" median of {len(runs)}").strip()
    return median


def _warm(path: Path) -> None:
    with path.open("rb") as file:
        while file.read(1 << 24):
            pass


def sliced(path: Path, size: int) -> tuple[Path, int]:
    target = WORK / f"{path.stem}-first-{size}.pcap"
    if not target.exists():
        synthetic.write_slice(path, target, size)
    return target, synthetic.write_slice(target, Path(os.devnull), 1 << 62)


def bench_capture(capture: Capture, args: argparse.Namespace) -> list[Result]:
    path = ensure(capture)
    pcap = ensure(CAPTURES_BY_NAME[capture.same_packets_as]) if capture.same_packets_as else path
    total = synthetic.write_slice(pcap, Path(os.devnull), 1 << 62)
    if path != pcap:
        _warm(path)  # into the page cache, as counting the packets does for a pcap
    print(f"\n== {capture.name}: {capture.about}\n   {total} packets, "
          f"{path.stat().st_size / 1e6:.0f} MB, load average {_load()}", flush=True)
    python, file = sys.executable, str(path)
    jobs: list[Job] = [("flowcheck engine (python -m flowcheck.connections)",
                        [python, "-m", "flowcheck.connections", file], (0,))]
    cli = shutil.which("flowcheck")
    if cli:
        jobs += [("flowcheck connections --format json",
                  [cli, "connections", file, "--format", "json"], (0,)),
                 ("flowcheck analyze --format json",
                  [cli, "analyze", file, "--format", "json"],
                  # 1, 5: the verdict is fail or inconclusive, which is a result
                  # (ndmjob-1g-sniffloss: its data connection's FINs were dropped)
                  (0, 1, 5))]
    runs = measure_interleaved(jobs, total, args.timeout, args.repeat)
    runs.append(measure("tcptrace -n", ["tcptrace", "-n", file], total, args.timeout))
    part, count = sliced(pcap, args.tshark_slice)
    runs.append(measure(f"tshark -z conv,tcp, desegment off (first {count})",
                        ["tshark", "-n", "-q", "-o", "tcp.desegment_tcp_streams:FALSE",
                         "-z", "conv,tcp", "-r", str(part)], count, args.timeout))
    part, count = sliced(pcap, args.dpkt_slice)
    runs.append(measure(f"dpkt loop, per-4-tuple counts (first {count})",
                        [python, "-c", DPKT_LOOP, str(part)], count, args.timeout))
    report(runs)
    return runs


def report(runs: list[Result]) -> None:
    ours = runs[0]
    print(f"   {'tool':52} {'packets':>9} {'wall s':>7} {'packets/s':>11} {'cpu s':>6} "
          f"{'pkt/cpu s':>11} {'peak MB':>8} {'engine x':>9} {'x by cpu':>9}")
    for run in runs:
        wall = f"{run.wall:7.2f}" if run.wall else f"{'-':>7}"
        pps = f"{run.pps:11,.0f}" if run.pps else f"{'-':>11}"
        cpu = f"{run.cpu:6.2f}" if run.cpu and run.wall else f"{'-':>6}"
        cpu_pps = f"{run.cpu_pps:11,.0f}" if run.cpu_pps else f"{'-':>11}"
        mine = run is not ours
        ratio = _ratio(ours, run) if mine else None
        by_cpu = _ratio(ours, run, cpu=True) if mine else None
        print(f"   {run.tool:52} {run.packets:9d} {wall} {pps} {cpu} {cpu_pps} "
              f"{run.rss_mb:8.0f} {f'{ratio:.1f}x' if ratio else '':>9} "
              f"{f'{by_cpu:.1f}x' if by_cpu else '':>9} {run.note}")


def _by(runs: list[Result], prefix: str) -> Result | None:
    return next((run for run in runs if run.tool.startswith(prefix)), None)


def _ratio(a: Result | None, b: Result | None, cpu: bool = False) -> float | None:
    x, y = (a.cpu_pps, b.cpu_pps) if cpu and a and b else (a and a.pps, b and b.pps)
    return x / y if x and y else None


def summary(results: dict[str, list[Result]]) -> None:
    """Per capture: by wall time, then by CPU time; the targets (reported, not asserted)."""
    print(f"\nsummary (load average now {_load()})")
    for label, cpu in (("wall time", False), ("CPU time (user + sys)", True)):
        print(f"\nby {label}:")
        print(f"{'capture':20} {'engine pkt/s':>13} {'peak MB':>8} {'x tcptrace':>10} "
              f"{'x tshark':>9} {'x dpkt':>7} {'analyze/conn.':>14}  targets")
        for name, runs in results.items():
            ours = runs[0]
            analyze = _by(runs, "flowcheck analyze")
            connections = _by(runs, "flowcheck connections")
            pps = ours.cpu_pps if cpu else ours.pps
            cells = [_ratio(ours, _by(runs, peer), cpu) for peer in ("tcptrace", "tshark", "dpkt")]
            slower = _ratio(connections, analyze, cpu)  # both commands, start-up included
            met = [pps and pps >= 1e6, cells[0] and cells[0] >= 1, cells[1] and cells[1] >= 10,
                   cells[2] and cells[2] >= 10, slower and slower <= 1.2, ours.rss_mb < 150]
            names = [">=1M pkt/s", ">=tcptrace", ">=10x tshark", ">=10x dpkt",
                     "analyze<=1.2x", "<150 MB"]
            missed = [n for n, ok in zip(names, met, strict=True) if not ok]
            text = [f"{cell:.1f}x" if cell else "-" for cell in cells]
            print(f"{name:20} {pps or 0:13,.0f} {ours.rss_mb:8.0f} {text[0]:>10} {text[1]:>9} "
                  f"{text[2]:>7} {f'{slower:.2f}x' if slower else '-':>14}  "
                  f"{'all met' if not missed else 'NOT met: ' + ', '.join(missed)}")


def startup_floor(python: str, runs: int = 5) -> str:
    """What every run of the engine pays before reading: the interpreter with this
    environment's `site` (its .pth files), then numpy's import (medians of `runs`)."""
    # As flowcheck's commands start numpy: without OpenBLAS's thread pool (flowcheck/__init__).
    env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}

    def median_wall(argv: list[str]) -> float:
        walls = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
            walls.append(time.perf_counter() - start)
        return sorted(walls)[len(walls) // 2]
    bare = median_wall([python, "-S", "-c", "pass"])
    with_site = median_wall([python, "-c", "pass"])
    numpy = median_wall([python, "-c", "import numpy"])
    return (f"start-up floor: interpreter {bare:.3f} s, + site {max(0, with_site - bare):.3f} s "
            f"(this environment's .pth files), + numpy {max(0, numpy - with_site):.3f} s")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", default=",".join(CAPTURES_BY_NAME),
                        help="comma-separated names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the captures and stop")
    parser.add_argument("--tshark-slice", type=int, default=50_000)
    parser.add_argument("--dpkt-slice", type=int, default=200_000)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--repeat", type=int, default=3, help="flowcheck runs (median shown)")
    args = parser.parse_args()
    if args.list:
        for capture in CAPTURES:
            print(f"{capture.name:20} {capture.about}")
        return 0
    names = [name for name in args.captures.split(",") if name]
    unknown = [name for name in names if name not in CAPTURES_BY_NAME]
    if unknown:
        parser.error(f"unknown capture {unknown[0]!r}; known: {', '.join(CAPTURES_BY_NAME)}")
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    # Byte-compile flowcheck as installing it does: with PYTHONDONTWRITEBYTECODE set, every
    # run would otherwise compile its modules again (about 50 ms of start-up).
    compileall.compile_dir(str(ROOT / "flowcheck"), quiet=1)
    print(f"{os.cpu_count()} cores, load average {_load()}")
    print(startup_floor(sys.executable))
    results = {name: bench_capture(CAPTURES_BY_NAME[name], args) for name in names}
    summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
