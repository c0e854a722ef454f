"""What tshark reads of a matrix run's capture, for the lab's own checks of it: when the
fault's first packet came (fault_time: where a stopped run is cut) and how many TCP
frames it holds (tcp_frames: judge's proof of an answer saying "no TCP at all").
tshark, not flowcheck, so a misread capture does not vouch for itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowcheck.lab.matrix import syn_target
from flowcheck.lab.matrix_axes import agent_of, step_v6


def fault_time(run: dict, path: Path) -> float:
    """Epoch time of the fault's first packet (the step's first SYN, else the first SYN
    to the agent range; with two jobs, the faulted job's: to or from its agent's
    address); the capture's first third when neither is in it. tshark reads the whole
    file: its `-c 1` counts packets read, not shown, so with `-Y` it stopped at the
    first packet and every stopped run was cut from the capture's first third instead
    (seed 108 run 36: the faulted job's SYNs cut away, the other job's read PASS)."""
    flt = "tcp.flags.syn==1 && tcp.flags.ack==0"
    receiver, step = "a", "data"
    if "step" in run:
        receiver, ports, _s = syn_target(run)
        step = run["step"]
        low, _, high = ports.partition("-")
        flt += f" && tcp.dstport>={low} && tcp.dstport<={high or low}"
    elif run["fault"] in ("port-in-use", "kill-agent", "nat", "range-small"):
        flt += " && tcp.dstport>=6001 && tcp.dstport<=6100"
    if run.get("jobs", 1) == 2 and run.get("fault_job"):
        v6 = step_v6(run, step)
        field = ("ipv6" if v6 else "ip") + (".dst" if receiver == "a" else ".src")
        flt += f" && {field}=={agent_of(run, run['fault_job'], v6)}"
    out = subprocess.run(["tshark", "-r", str(path), "-Y", flt, "-T", "fields", "-e",
                          "frame.time_epoch"], capture_output=True,
                         text=True, check=False).stdout.split()
    if out:
        return min(float(t) for t in out)
    times = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e",
                            "frame.time_epoch"], capture_output=True, text=True,
                           check=False).stdout.split()
    return float(times[len(times) // 3]) if times else 0.0


def tcp_frames(path: Path) -> int | None:
    """How many frames of the capture at `path` tshark reads as TCP (`-Y tcp`): the
    lab's own check of an answer saying the capture holds no TCP at all (matrix.judge,
    NO_TCP). One tshark run, only for such an answer. None when tshark failed (exit
    status not 0: a file it cannot read, or gone) before printing any: no proof of none."""
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp", "-T", "fields", "-e",
                          "frame.number"], capture_output=True, text=True, check=False)
    frames = len(out.stdout.split())
    return frames if frames or out.returncode == 0 else None
