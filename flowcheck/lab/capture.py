"""Run a scenario in fresh namespaces and store its capture plus sidecar configuration."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.lab import ndmjob
from flowcheck.lab.netns import Lab, LabError, PacketCapture, apply_nft, lab_network, run
from flowcheck.lab.scenarios import SCENARIOS, Scenario
from flowcheck.lab.sniffer import STOP_TRIGGERS, ShapedCapture, stop_trigger

REPO_ROOT = Path(__file__).resolve().parents[2]


@fields_dataclass(slots=True)
class CaptureResult:
    scenario: str
    path: Path
    config_path: Path
    packets: int
    job_exit_codes: list[int]
    log: str


def _python_argv(role: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "flowcheck.lab", role, *args]


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{path}" if path else
                str(REPO_ROOT))


def _range(port_range: tuple[int, int]) -> str:
    return f"{port_range[0]}-{port_range[1]}"


class AgentProcess:
    """python -m flowcheck.lab agent in A's namespace; ready once it prints "ready"."""

    def __init__(self, lab: Lab, scenario: Scenario) -> None:
        argv = _python_argv("agent", "--agent-range", _range(scenario.agent_range),
                            "--ndmp-port", str(scenario.ndmp_port),
                            *(scenario.agent_args or ()))
        self.process = subprocess.Popen(lab.exec_argv("a", argv), env=_env(), text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise LabError(f"lab agent did not start: {self.process.stderr.read()[-300:]}")

    def stop(self, grace: float = 2.0) -> str:
        """The agent ends by itself after its sessions; one still waiting is stopped."""
        try:
            _out, err = self.process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            _out, err = self.process.communicate()
        return err or ""


def run_backup_exec(lab: Lab, scenario: Scenario) -> tuple[list[int], str]:
    """Run the scenario's Backup Exec jobs (the lab agent in A, media servers in M) to
    their end; (each job's exit code, the logs). LabError if a job hangs (120 s)."""
    agent = AgentProcess(lab, scenario) if scenario.agent_args is not None else None
    codes: list[int] = []
    logs: list[str] = []

    def media_argv(port_range: tuple[int, int]) -> list[str]:
        return lab.exec_argv("m", _python_argv("media", "--media-range", _range(port_range),
                                               "--ndmp-port", str(scenario.ndmp_port),
                                               *scenario.media_args))

    try:
        if scenario.concurrent:
            # All jobs at once: one media server process each. One job engine would not
            # hand a port to a job while another job holds it (the TechNote's hold), so
            # each process allocates from its own slice of the media range.
            low, high = scenario.media_range
            size = (high - low + 1) // scenario.jobs
            jobs = [subprocess.Popen(media_argv((low + i * size, low + (i + 1) * size - 1)),
                                     env=_env(), text=True, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE) for i in range(scenario.jobs)]
            for number, job_process in enumerate(jobs, start=1):
                try:
                    _out, err = job_process.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    for other in jobs:
                        other.kill()
                    raise LabError(f"{scenario.name}: media server job {number} hung") from None
                codes.append(job_process.returncode)
                logs.append(err)
        else:
            argv = media_argv(scenario.media_range)
            for job in range(scenario.jobs):  # one after another, about 1 s apart
                if job:
                    time.sleep(1.0)
                try:
                    result = subprocess.run(argv, env=_env(), text=True,
                                            capture_output=True, timeout=120, check=False)
                except subprocess.TimeoutExpired:
                    raise LabError(f"{scenario.name}: media server job {job + 1} hung") \
                        from None
                codes.append(result.returncode)
                logs.append(result.stderr)
    finally:
        if agent is not None:
            logs.append(agent.stop())
    return codes, "".join(logs)


def _run_ndmjob(lab: Lab, scenario: Scenario, workdir: Path) -> tuple[list[int], str]:
    workspace = ndmjob.prepare_workspace(workdir, scenario.data_bytes)
    daemon = (ndmjob.NdmjobDaemon(lab, workspace, scenario.ndmp_port)
              if scenario.agent_args is not None else None)
    tape = None
    try:
        if scenario.tape_agent == "media":  # M's own tape agent (its namespace, its port)
            tape = ndmjob.NdmjobDaemon(lab, workspace, scenario.ndmp_port, host="m")
        code, log = ndmjob.run_backup(lab, workspace, port=scenario.ndmp_port,
                                      version=scenario.ndmp_version,
                                      tape_agent=scenario.tape_agent,
                                      kill_after=scenario.kill_after,
                                      pause=scenario.tape_pause)
    finally:
        for running in (daemon, tape):
            if running is not None:
                running.stop()
    return [code], log


def sidecar_path(output: Path, scenario: Scenario) -> Path:
    """NAME.toml beside NAME.pcap; a ring buffer's directory gets one flowcheck.toml."""
    return output.parent / "flowcheck.toml" if scenario.ring else output.with_suffix(".toml")


def ring_files(output: Path) -> list[Path]:
    """tcpdump -C -W's files for `-w output`: output0, output1, ... (numbered, sorted)."""
    return sorted((p for p in output.parent.glob(output.name + "*")
                   if p.name[len(output.name):].isdigit()),
                  key=lambda p: int(p.name[len(output.name):]))


def run_host_commands(lab: Lab, scenario: Scenario) -> None:
    """Scenario.host_commands, each inside its host's namespace (LabError if one fails)."""
    for host, command in scenario.host_commands:
        run(lab.exec_argv(host, shlex.split(command)))


def _how_captured(scenario: Scenario) -> list[str]:
    """Comment lines for the sidecar: what differs from the usual capture and network."""
    lines = []
    if scenario.capture_options:
        lines.append(f"# captured with: tcpdump -i m0 {' '.join(scenario.capture_options)} "
                     f"(in M's namespace)")
    if scenario.stop_after:
        lines.append(f"# capture stopped right after {STOP_TRIGGERS[scenario.stop_after]}: "
                     f"tcpdump -i m0 -U -w - (in M's namespace) piped to the lab, which "
                     f"stops tcpdump as soon as that packet is written; the file ends with "
                     f"it, the job itself succeeded")
    for host, command in scenario.host_commands:
        lines.append(f"# in {'M' if host == 'm' else 'A'}: {command}")
    if scenario.nft_media:
        lines.append("# in M: nft " + " ".join(scenario.nft_media.split()))
    if scenario.nft_agent:
        lines.append("# in A: nft " + " ".join(scenario.nft_agent.split()))
    return lines


def _capture(lab: Lab, output: Path, scenario: Scenario) -> PacketCapture | ShapedCapture:
    if scenario.shaped:
        trigger = (stop_trigger(scenario.stop_after, scenario.ndmp_port, scenario.media_range,
                                scenario.agent_range) if scenario.stop_after else None)
        return ShapedCapture(lab, output, scenario.packet_filter,
                             options=scenario.capture_options, trigger=trigger,
                             trigger_name=scenario.stop_after or "")
    return PacketCapture(lab, output, scenario.capture_interfaces or None,
                         scenario.packet_filter, scenario.capture_tool)


def write_sidecar(path: Path, scenario: Scenario, output: Path | None = None) -> None:
    output = output or path.with_suffix(".pcap")
    described = (f"the ring buffer {output.name}0, {output.name}1, ... in this directory "
                 f"(one capture set: flowcheck analyze --config {path} {output.parent}/)"
                 if scenario.ring else output.name)
    lines = [f"# flowcheck configuration for {described}",
             f"# made by: python -m flowcheck.lab capture {scenario.name} {output}",
             f"# {scenario.summary}",
             *_how_captured(scenario),
             f"# expect: verdict {scenario.expect_verdict}; findings "
             f"{', '.join(scenario.expect_codes) or 'none of severity error or warning'}"]
    for key, value in scenario.sidecar().items():
        lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")


def capture_scenario(name: str | Scenario, output: Path, *,
                     sidecar: bool = True) -> CaptureResult:
    """Build the namespaces, apply the faults, capture the run, tear everything down.

    `name` is a stored scenario's name or a Scenario (tests vary the stored ones).
    """
    if isinstance(name, Scenario):
        scenario = name
    elif name in SCENARIOS:
        scenario = SCENARIOS[name]
    else:
        raise LabError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    if scenario.ring:
        for old in ring_files(output):  # a previous run's files would join the set
            old.unlink()
    with lab_network(scenario.media_range, scenario.agent_range,
                     second_network=scenario.second_network, vlan=scenario.vlan) as lab, \
            tempfile.TemporaryDirectory(prefix="fc-lab-") as workdir:
        run_host_commands(lab, scenario)
        if scenario.nft_media:
            apply_nft(lab, "m", scenario.nft_media)
        if scenario.nft_agent:
            apply_nft(lab, "a", scenario.nft_agent)
        capture = _capture(lab, output, scenario)
        try:
            if scenario.kind == "ndmjob":
                codes, log = _run_ndmjob(lab, scenario, Path(workdir))
            else:
                codes, log = run_backup_exec(lab, scenario)
        finally:
            packets = capture.stop()
    if scenario.shaped and scenario.expect_verdict != "fail" and any(codes):
        # A shaped capture of a clean job claims the job succeeded on the network.
        raise LabError(f"{scenario.name}: the job failed (exit codes {codes}): {log[-300:]}")
    config_path = sidecar_path(output, scenario)
    if sidecar:
        write_sidecar(config_path, scenario, output)
    return CaptureResult(scenario.name, output, config_path, packets, codes, log)
