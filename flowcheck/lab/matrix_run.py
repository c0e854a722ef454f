"""Running one run of the fault matrix (flowcheck.lab.matrix) for real: namespaces (one
segment, or M -- router -- A), the fault's nftables rules, the job (the Backup Exec
imitation or ndmjob), tcpdump at the drawn point and form, the capture's shaping (sniffer
loss, stopped early), then `flowcheck analyze` on it, judged against the ground truth.

Each run writes OUT/runNN.pcap, runNN.toml (its flowcheck configuration, the run in its
first comment line) and runNN.json ({"run", "expect", "got", "match"}). Root only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from flowcheck.lab import capture as labcap
from flowcheck.lab import matrix_net as net
from flowcheck.lab import netns
from flowcheck.lab import scenarios as sc
from flowcheck.lab.last_packets import wait_for_last_packets
from flowcheck.lab.matrix import (
    EXTRA_FAULTS,
    FAULTS,
    FORMS,
    NO_TCP,
    expect,
    fault_rules,
    judge,
    plan,
    unexplained,
)
from flowcheck.lab.matrix_axes import AXES, agent_of, sessions_of, sidecar_hosts, step_v6
from flowcheck.lab.matrix_jobs import peer_args, run_two_jobs
from flowcheck.lab.matrix_net import Routed
from flowcheck.lab.matrix_tshark import fault_time, tcp_frames
from flowcheck.lab.netns import Lab, LabError, apply_nft
from flowcheck.lab.scenarios import Scenario

PREFIX = "fcm"  # namespaces fcm<pid>-<n>-m/a (or -m/-r/-a), nft tables fcm_fault, fcm_nat
SLOW_MEDIA = ("m", "tc qdisc add dev m0 root tbf rate 4mbit burst 32kbit latency 400ms")

def scenario_for(run: dict, prefix: str = PREFIX) -> Scenario:
    """The lab Scenario playing the run's peer, operation, resources and the faults made
    by the peers or the hosts (a squatted data port, a small agent range, the agent's
    NAT, a long transfer to kill). Run keys beyond matrix.draw's: chunk_delay (s between
    the agent's chunks, kill-agent), media_bytes, slow_media (M's link at 4 Mbit/s).
    The axes (matrix_axes): the peers' addresses by family, the configuration's hosts."""
    res, fault = run["resources"], run["fault"]
    if run["peer"] == "ndmjob":
        return Scenario(f"matrix-{run['index']}", "ndmjob", "fault matrix", "pass",
                        ndmp_version=run["version"],
                        kill_after=25 if fault != "none" else None)
    media = ["--resources", str(res)]
    agent: list[str] = []
    kwargs: dict = {}
    if run["op"] == "restore":
        media.append("--restore")
    if run["routed"]:
        media += ["--agent", "10.77.1.2"]
    if fault == "port-in-use":
        agent += ["--squat-data-ports", "1"]
    if fault == "range-small":  # the callback takes one agent port too
        kwargs["agent_range"] = (6001, 6001 + max(0, res - 1))
    if fault == "nat":
        agent += ["--data-ip", "10.79.0.2", "--data-bind", "0.0.0.0"]
        kwargs["host_commands"] = (*sc.AGENT_SECOND_ADDRESS, *sc.MEDIA_ROUTE_TO_SECOND_ADDRESS)
        kwargs["nft_media"] = sc.dnat("10.79.0.2", "10.77.0.2").replace("fc_nat",
                                                                        f"{prefix}_nat")
        kwargs["config"] = {"backup_network": None}
    if fault == "kill-agent":
        agent += ["--bytes", "3000000", "--chunk-delay", str(run.get("chunk_delay", 0.03))]
        if run["op"] == "restore":  # media --bytes sizes a restore's data only
            media += ["--bytes", str(run.get("media_bytes", 3000000))]
    if run.get("slow_media"):  # a restore that lasts long enough to be killed mid-way
        kwargs["host_commands"] = (SLOW_MEDIA,)
    if run["routed"]:
        kwargs["config"] = {"remote_agents": ["10.77.1.2"], "backup_network": None}
    if run.get("family", "ipv4") != "ipv4" or run.get("jobs", 1) == 2:
        kwargs["config"] = {**kwargs.get("config", {}), "backup_network": None,
                            **sidecar_hosts(run)}
    if run.get("jobs", 1) == 1:  # two jobs: matrix_jobs.run_two_jobs adds each job's
        more_media, more_agent = peer_args(run, 1)
        media += more_media
        agent += more_agent
    return Scenario(f"matrix-{run['index']}", "backup-exec", "fault matrix", "pass",
                    media_args=tuple(media), agent_args=tuple(agent), resources=res,
                    **kwargs)


def kill_agent_midway(lab: Lab, stop: threading.Event, log: list[str],
                      delay: float = 0.4, only: tuple[str, str] | None = None) -> None:
    """SIGKILL the agent process (the lab's, or ndmjob) `delay` s after a data
    connection to its range is established; log says when (empty: no kill came). With
    `only` (two jobs' agents: the address one listens on, its data address), that agent,
    once a data connection to it is established."""
    deadline = time.monotonic() + 60
    state = "( sport >= :6001 and sport <= :6100 )"
    if only:
        state += f" and src {'[' + only[1] + ']' if ':' in only[1] else only[1]}"
    while not stop.is_set() and time.monotonic() < deadline:
        out = subprocess.run(lab.exec_argv("a", ["ss", "-Htn", "state", "established",
                                                 state]),
                             capture_output=True, text=True, check=False).stdout
        if out.strip():
            time.sleep(delay)
            pids = subprocess.run(["ip", "netns", "pids", lab.agent_ns], capture_output=True,
                                  text=True, check=False).stdout.split()
            for pid in pids:
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if only and f"\x00--listen\x00{only[0]}\x00".encode() not in cmd:
                    continue
                if b"flowcheck.lab\x00agent" in cmd or b"ndmjob" in cmd:
                    subprocess.run(["kill", "-9", pid], check=False)
                    log.append(f"killed agent pid {pid} at {time.time():.3f}")
            return
        time.sleep(0.05)


def shape(run: dict, path: Path, rng: random.Random) -> None:
    """The forms made after the capture: sniffer loss (editcap deletes loss_pct % of
    the frames, drawn by rng: run["deleted_frames"]) and a capture stopped stop_after_s
    after the fault's first packet (run["fault_ts"], run["cut_ts"])."""
    tmp = path.with_suffix(".shaped.pcap")
    if run["form"] == "loss":
        count = int(subprocess.run(["capinfos", "-c", "-M", "-T", "-r", str(path)],
                                   capture_output=True, text=True,
                                   check=True).stdout.split()[-1])
        k = max(1, round(count * run["loss_pct"] / 100))
        frames = sorted(rng.sample(range(1, count + 1), min(k, count)))
        run["deleted_frames"] = frames
        subprocess.run(["editcap", str(path), str(tmp), *map(str, frames)], check=True)
        tmp.replace(path)
    elif run["form"] == "stopped":
        run["fault_ts"] = fault_time(run, path)
        cut = run["fault_ts"] + run["stop_after_s"]
        run["cut_ts"] = cut
        stamp = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(cut))
                 + f".{int((cut % 1) * 1e6):06d}")
        subprocess.run(["editcap", "-B", stamp, str(path), str(tmp)], check=True)
        tmp.replace(path)


def capture_run(run: dict, out: Path, prefix: str = PREFIX) -> dict:
    """Run `run` in fresh namespaces named `prefix`..., capture, shape and analyze it
    (OUT/runNN.*); its result, as analyze returns it."""
    rng = random.Random(run["seed"])
    scenario = scenario_for(run, prefix)
    out.mkdir(parents=True, exist_ok=True)
    path = out / net.capture_name(run)
    log: list[str] = []
    with ExitStack() as stack:
        routed = None
        if run["routed"]:
            routed = Routed(scenario, f"{prefix}{os.getpid()}-{run['index']}",
                            v6=run.get("family", "ipv4") != "ipv4")
            stack.callback(routed.close)
            lab = routed.lab
        elif run.get("bridge_delay_ms") is not None:  # one segment, its points apart
            bridged = net.Bridged(scenario, f"{prefix}{os.getpid()}-{run['index']}",
                                  run["bridge_delay_ms"])
            stack.callback(bridged.close)
            lab = bridged.lab
        else:
            lab = stack.enter_context(netns.lab_network(scenario.media_range,
                                                        scenario.agent_range, prefix=prefix))
        net.add_addresses(run, lab)
        codes, joblog = _job(run, scenario, lab, routed, path, log, prefix)
    run["job_exit_codes"] = codes
    run["job_log_tail"] = joblog[-400:]
    run["lab_log"] = log
    shape(run, path, rng)
    config = path.with_suffix(".toml")
    shown = {k: v for k, v in run.items() if k not in ("job_log_tail", "deleted_frames")}
    lines = [f"# matrix run {json.dumps(shown)}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in scenario.sidecar().items()]
    config.write_text("\n".join(lines) + "\n")
    return analyze(run, path, config, out)


def _job(run: dict, scenario: Scenario, lab: Lab, routed: Routed | None, path: Path,
         log: list[str], prefix: str) -> tuple[list[int], str]:
    """The fault's rules, the capture at the run's point, the job (and the kill); the
    capture's parts merged into `path`. (job exit codes, job log)."""
    labcap.run_host_commands(lab, scenario)
    if scenario.nft_media:
        apply_nft(lab, "m", scenario.nft_media)
    for host, text in fault_rules(run, prefix).items():
        target = routed.router if host == "r" and routed else lab
        apply_nft(target, "m" if host in ("m", "r") else "a", text)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as work:
        dumps, parts = net.start_capture(run, lab, routed, path)
        stop = threading.Event()
        killer = None
        if run["fault"] == "kill-agent":
            killer = threading.Thread(target=kill_agent_midway,
                                      args=(lab, stop, log, run.get("kill_delay", 0.4),
                                            _faulted_agent(run)))
            killer.start()
        try:
            if scenario.kind == "ndmjob":
                codes, joblog = labcap._run_ndmjob(lab, scenario, Path(work))
            elif run.get("jobs", 1) == 2:
                codes, joblog = run_two_jobs(lab, scenario, run)
            else:
                codes, joblog = labcap.run_backup_exec(lab, scenario)
        finally:
            stop.set()
            if killer is not None:
                killer.join()
            # The last packets into the capture (a router's sniffer too: they passed it
            # before reaching the host whose socket they closed).
            wait_for_last_packets((lab.media_ns, lab.agent_ns), dumps)
            for dump in dumps:
                try:
                    dump.stop()
                except LabError as exc:  # kept and said: the capture's own verdict
                    log.append(f"capture: {exc}")
    net.merge(run, parts, path)
    return codes, joblog


def _faulted_agent(run: dict) -> tuple[str, str] | None:
    """With two jobs, the faulted job's agent: (the address it listens on, its data
    connections' address); else None."""
    if run.get("jobs", 1) != 2 or not run.get("fault_job"):
        return None
    job = run["fault_job"]
    return (agent_of(run, job, run.get("family", "ipv4") != "ipv4"),
            agent_of(run, job, step_v6(run, "data")))


def analyze(run: dict, path: Path, config: Path, out: Path) -> dict:
    """`flowcheck analyze` on the run's capture, judged against its ground truth
    (matrix.expect, matrix.judge); written to OUT/runNN.json and returned."""
    exp = expect(run)
    proc = subprocess.run([sys.executable, "-m", "flowcheck", "analyze", "--config",
                           str(config), "--format", "json", str(path)],
                          capture_output=True, text=True, check=False)
    got: dict = {"exit": proc.returncode, "stderr": proc.stderr[-300:], "verdict": None,
                 "errors": []}
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        doc = None
    if doc is not None:
        got["verdict"] = doc.get("verdict")
        got["errors"] = sorted({f["code"] for f in doc["findings"] if f["severity"] == "error"})
        got["warnings"] = sorted({f["code"] for f in doc["findings"]
                                  if f["severity"] == "warning"})
        got["fixes"] = [f"{f['code']}: {f.get('fix', '')[:160]}" for f in doc["findings"]
                        if f["severity"] == "error"][:4]
        got["sessions"] = sessions_of(doc)
        got["error_sessions"] = sorted({str(f.get("session")) for f in doc["findings"]
                                        if f["severity"] == "error" and f.get("session")})
    if got["verdict"] == "inconclusive" and got.get("warnings") == [NO_TCP]:
        got["tcp_frames"] = tcp_frames(path)  # tshark's word on "no TCP at all"
    match = _judge(exp, got)
    result = {"run": run, "expect": exp, "got": got, "match": match}
    (out / f"run{run['index']:02d}.json").write_text(json.dumps(result, indent=1))
    return result


def add_parser(commands: argparse._SubParsersAction) -> None:
    """`python -m flowcheck.lab matrix plan|run|one ...` (docs/lab.md)."""
    matrix = commands.add_parser("matrix", help="the seeded fault matrix (field check 38)")
    actions = matrix.add_subparsers(dest="action", required=True)
    for name, text in (("plan", "print the drawn runs and their ground truth (no root)"),
                       ("run", "run them (root): OUT/runNN.pcap, .toml, .json")):
        parser = actions.add_parser(name, help=text)
        parser.add_argument("seed", type=int)
        parser.add_argument("count", type=int)
        parser.add_argument("--faults", type=_names, default=FAULTS,
                            help=f"comma-separated, drawn from (default: {','.join(FAULTS)}; "
                                 f"also {','.join(EXTRA_FAULTS)})")
        parser.add_argument("--forms", type=_names, default=FORMS,
                            help=f"comma-separated (default: {','.join(FORMS)})")
        parser.add_argument("--axes", type=_names, default=(),
                            help=f"the newer axes drawn too, comma-separated, of "
                                 f"{','.join(AXES)} (default: none, the earlier matrices' "
                                 f"runs)")
        if name == "run":
            parser.add_argument("only", type=int, nargs="*", metavar="INDEX",
                                help="run only these indexes")
    again = actions.add_parser("judge", help="judge stored results (OUT/runNN.json) again "
                               "with today's ground truth (no root, no run)")
    again.add_argument("results", type=Path, nargs="+", metavar="RUN.json")
    one = actions.add_parser("one", help="run one run given as JSON (root)")
    one.add_argument("run", type=json.loads, metavar="JSON")
    for parser in (actions.choices["run"], one):
        parser.add_argument("--out", type=Path, default=Path("matrix-out"))
        parser.add_argument("--prefix", default=PREFIX,
                            help="namespace and nft table prefix (default: %(default)s)")


def _names(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def rejudge(path: Path) -> dict:
    """A stored result (OUT/runNN.json) judged again with today's ground truth and
    judging (matrix.expect, matrix.judge), no lab run: the same dict, `expect` and
    `match` replaced."""
    result = json.loads(path.read_text())
    run, got = result["run"], result["got"]
    exp = expect(run)
    return {**result, "expect": exp, "match": _judge(exp, got)}


def _judge(exp: dict, got: dict) -> bool:
    """matrix.judge on analyze's answer as `got` holds it."""
    return judge(exp, got["verdict"], got["errors"], got["exit"], got.get("warnings", ()),
                 got.get("sessions", ()), got.get("error_sessions", ()),
                 tcp_frames=got.get("tcp_frames"))


def _line(result: dict, seconds: float | None = None) -> str:
    """The one line printed per run: index, OK / MISMATCH, what was expected and got."""
    run, got, exp = result["run"], result["got"], result["expect"]
    shown = {k: run[k] for k in ("peer", "op", "resources", "routed", "fault", "step",
                                 "where", "reject", "point", "form", "family", "link",
                                 "jobs", "fault_job") if k in run}
    extra = unexplained(exp, got.get("warnings", ()))
    return (f"{run['index']:02d} {'OK ' if result['match'] else 'MISMATCH'} "
            f"expect={exp['accept']}/{exp['codes'][:3]} got={got['verdict']}/"
            f"{got['errors']} exit={got['exit']}"
            + (f" unexplained-warnings={extra}" if extra else "")
            + (f" ({seconds:.0f}s)" if seconds is not None else "")
            + f" {json.dumps(shown)}")


def run_matrix(args: argparse.Namespace) -> int:
    """The `matrix` command: 0 every run matched its ground truth (or plan), 1 not."""
    if args.action == "plan":
        for run in plan(args.seed, args.count, args.faults, args.forms, args.axes):
            print(json.dumps(run), "->", json.dumps(expect(run)))
        return 0
    if args.action == "judge":
        results = [rejudge(path) for path in args.results]
        for result in results:
            print(_line(result))
        return 0 if all(result["match"] for result in results) else 1
    runs = ([args.run] if args.action == "one" else
            [r for r in plan(args.seed, args.count, args.faults, args.forms, args.axes)
             if not args.only or r["index"] in args.only])
    matched = True
    for run in runs:
        started = time.monotonic()
        result = capture_run(run, args.out, args.prefix)
        matched &= result["match"]
        print(_line(result, time.monotonic() - started), flush=True)
    return 0 if matched else 1
