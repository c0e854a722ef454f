"""The fault matrix's Backup Exec peers by the run's axes (flowcheck.lab.matrix_axes):
each job's media server and agent arguments (IPv6, dual-stack, the second agent), two
jobs at once.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace

from flowcheck.lab.capture import AgentProcess, _env, _python_argv, _range
from flowcheck.lab.matrix_axes import agent_of, hosts, tls_args
from flowcheck.lab.netns import Lab, LabError
from flowcheck.lab.scenarios import Scenario

# The agents pause 20 ms after each 64 KB sent (a kill-agent run's own pause comes after
# and wins): each job lasts long enough for the two to overlap.
OVERLAP = ("--chunk-delay", "0.02")


def peer_args(run: dict, job: int) -> tuple[list[str], list[str]]:
    """(media server arguments, agent arguments) of job `job` (1 or 2), appended to the
    scenario's (argparse: the last --agent wins). IPv6: both peers announce 0.0.0.0;
    dual: control over IPv6, the IPv4 addresses announced. With two jobs each agent
    listens on its own address only."""
    family, two = run.get("family", "ipv4"), run.get("jobs", 1) == 2
    v4 = hosts(run, False)
    key = "a" if job == 1 else "a2"
    control = agent_of(run, job, family != "ipv4")
    media = ["--agent", control]
    agent = ["--listen", control] if two or family != "ipv4" else []
    if family == "ipv6":
        media += ["--job-engine-ip", "0.0.0.0"]
        agent += ["--data-ip", "0.0.0.0", "--data-bind", control]
    elif family == "dual":
        media += ["--job-engine-ip", v4["m"]]
        agent += ["--data-ip", v4[key], "--data-bind", v4[key]]
    if run["fault"] == "port-in-use" and run.get("fault_job", 1) != job:
        agent = [*agent, "--squat-data-ports", "0"]
    return media + tls_args(run), agent + tls_args(run)


def run_two_jobs(lab: Lab, scenario: Scenario, run: dict) -> tuple[list[int], str]:
    """Two Backup Exec jobs at once, M to A's two agents (each its own process and
    address), each media server on its own half of the media range; (exit codes, logs).
    LabError if a job hangs (120 s)."""
    agents = []
    media = []
    low, high = scenario.media_range
    half = (high - low + 1) // 2
    logs: list[str] = []
    try:
        for job in (1, 2):  # both agents listening first: the jobs start together
            agents.append(AgentProcess(lab, replace(
                scenario, agent_args=(*OVERLAP, *(scenario.agent_args or ()),
                                     *peer_args(run, job)[1]))))
        for job in (1, 2):
            media_args = peer_args(run, job)[0]
            part = (low + (job - 1) * half, low + job * half - 1)
            media.append(subprocess.Popen(
                lab.exec_argv("m", _python_argv(
                    "media", "--media-range", _range(part), "--ndmp-port",
                    str(scenario.ndmp_port), *scenario.media_args, *media_args)),
                env=_env(), text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        codes = []
        for number, process in enumerate(media, start=1):
            try:
                _out, err = process.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                raise LabError(f"{scenario.name}: media server job {number} hung") from None
            codes.append(process.returncode)
            logs.append(err)
    finally:
        for process in media:
            if process.poll() is None:
                process.kill()
                process.wait()
        for agent in agents:
            logs.append(agent.stop())
    return codes, "".join(logs)
