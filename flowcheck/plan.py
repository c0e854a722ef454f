"""Capacity of the dynamic port ranges (`flowcheck plan`), from the TechNote's rules.

Two ports per resource, one in each range; the job engine binds one more media port;
every port stays held for `port_hold_seconds` after its session ends. So a range must
cover the ports of the jobs running at once plus those of the jobs that ended within
the hold period.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowcheck.config import Config, PortRange


def range_size(ranges: tuple[PortRange, ...]) -> int:
    ports: set[int] = set()
    for lo, hi in ranges:
        ports.update(range(lo, hi + 1))
    return len(ports)


def overlap(a: tuple[PortRange, ...], b: tuple[PortRange, ...]) -> int:
    first = {p for lo, hi in a for p in range(lo, hi + 1)}
    return sum(1 for lo, hi in b for p in range(lo, hi + 1) if p in first)


@dataclass(frozen=True, slots=True)
class Plan:
    resources: int
    media_ports: int
    agent_ports: int
    shared_ports: int  # in both ranges
    media_per_job: int  # one data port per resource + the job engine port
    agent_per_job: int  # one data port per resource
    jobs_per_hold: int  # jobs that can start within one hold period (0: none fits)
    hold_seconds: float

    @property
    def fits(self) -> bool:
        return self.jobs_per_hold >= 1

    def as_dict(self) -> dict:
        return {
            "resources": self.resources,
            "media_ports": self.media_ports,
            "agent_ports": self.agent_ports,
            "shared_ports": self.shared_ports,
            "media_ports_per_job": self.media_per_job,
            "agent_ports_per_job": self.agent_per_job,
            "jobs_per_hold_period": self.jobs_per_hold,
            "hold_seconds": self.hold_seconds,
            "fits": self.fits,
        }


def make_plan(config: Config, resources: int) -> Plan:
    media, agent = range_size(config.media_range), range_size(config.agent_range)
    shared = overlap(config.media_range, config.agent_range)
    media_per_job, agent_per_job = resources + 1, resources
    if shared:
        # Overlapping ranges draw from one pool: the union has to carry both sides.
        jobs = (media + agent - shared) // (media_per_job + agent_per_job)
        jobs = min(jobs, media // media_per_job, agent // agent_per_job)
    else:
        jobs = min(media // media_per_job, agent // agent_per_job)
    return Plan(resources, media, agent, shared, media_per_job, agent_per_job, jobs,
                config.port_hold_seconds)
