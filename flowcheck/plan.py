"""Capacity of the dynamic port ranges (`flowcheck plan`), from the TechNote's rules.

Two ports per resource, one in each range; the control connection's media-side port,
which step 1 judges against the media range (control_port_outside_media_range), and the
job engine's port where the profile has a separate callback connection (plain NDMP has
none; with `[callback] mode = "control"` the two are one port) in the media range too;
the agent one more agent port for a callback connection's source (contract: the
callback's source port belongs to the agent range; it stays open for the session); every
port stays held for
`port_hold_seconds` after its session ends. So a range must cover the ports of the jobs
running at once plus those of the jobs that ended within the hold period. Source:
Veritas TechNote 255831 (see docs/flow-model.md), docs/profiles.md.
"""

from __future__ import annotations

from flowcheck.config import Config, PortRange
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.profiles import Profile, load_profile


def _merged(ranges: tuple[PortRange, ...] | list[PortRange]) -> list[PortRange]:
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def range_size(ranges: tuple[PortRange, ...] | list[PortRange]) -> int:
    """Number of distinct ports in `ranges` (inclusive LO-HI pairs, may overlap)."""
    return sum(hi - lo + 1 for lo, hi in _merged(ranges))


def usable_ports(ranges: tuple[PortRange, ...] | list[PortRange], ndmp_port: int) -> int:
    """Ports of `ranges` a job can bind: range_size less the NDMP port when a range holds
    it, since the NDMP service listens there (new-user trial: `--agent-range 10000-10100`
    counted 101 agent ports, 100 are free)."""
    return range_size(ranges) - holds_port(ranges, ndmp_port)


def holds_port(ranges: tuple[PortRange, ...] | list[PortRange], port: int) -> bool:
    """Whether one of `ranges` (inclusive LO-HI pairs) holds `port`."""
    return any(lo <= port <= hi for lo, hi in ranges)


def overlap(first: tuple[PortRange, ...], second: tuple[PortRange, ...]) -> list[PortRange]:
    """The ports in both range lists, as sorted, merged LO-HI pairs ([] when disjoint)."""
    shared = [(max(a_lo, b_lo), min(a_hi, b_hi)) for a_lo, a_hi in first
              for b_lo, b_hi in second if max(a_lo, b_lo) <= min(a_hi, b_hi)]
    return _merged(shared)


def ranges_holding_ndmp_port(config: Config) -> list[str]:
    """The ranges ("media", "agent") set by the user (file or flag) that hold the NDMP
    port: a listener given that port of the range takes it from the NDMP service, or
    finds it taken; flowcheck's default 1025-65535 holds it by design and is not named
    (new-user trial: 9990-10010 read "fits")."""
    return [which for which in ("media", "agent")
            if which not in config.default_ranges()
            and holds_port(getattr(config, f"{which}_range"), config.ndmp_port)]


def job_engine_ports(profile: Profile) -> int:
    """Media-range ports a job binds besides its resources': the job engine's port when
    the profile has a callback (the callback's destination; with `[callback] mode =
    "control"` the control connection's source port), none without (plain NDMP)."""
    return 0 if profile.callback == "none" else 1


def control_ports(profile: Profile) -> int:
    """Media-range ports a job binds for its control connection apart from the job
    engine's: the control connection's media-side (source) port, which `analyze` judges
    against the media range (step 1, control_port_outside_media_range: trial 20, D8);
    none with `[callback] mode = "control"`, where that port is the job engine's."""
    return 0 if profile.callback == "control" else 1


def callback_source_ports(profile: Profile) -> int:
    """Agent-range ports a job binds besides its resources': the source port of the
    agent's callback connection (`[callback] mode = "connection"`, Backup Exec's), which
    the contract puts in the agent range (port_outside_agent_range) and which stays open
    for the whole session; none when the callback is the control connection's reply or
    there is none."""
    return 1 if profile.callback == "connection" else 0


def ports_per_job(which: str, resources: int, profile: Profile) -> int:
    """Ports one job of `resources` resources binds in the `which` ("media" | "agent")
    range: one per resource on each side, plus the job engine's port and the control
    connection's on the media side (job_engine_ports, control_ports) and the callback's
    source port on the agent side (callback_source_ports)."""
    if which == "media":
        return resources + job_engine_ports(profile) + control_ports(profile)
    return resources + callback_source_ports(profile)


@fields_dataclass(frozen=True, slots=True)
class RangeCapacity:
    """One pool of ports: the media range, the agent range, or (when they overlap) their
    union, which both sides then draw from."""

    name: str  # "media", "agent", or "media+agent" for the union of overlapping ranges
    ports: int  # distinct ports in the pool, the NDMP port left out
    per_job: int  # ports one job binds in it

    @property
    def jobs(self) -> int:
        """Jobs the pool carries at once (counting jobs ended within the hold period)."""
        return self.ports // self.per_job if self.per_job else 0

    @property
    def shortfall(self) -> int:
        """Ports missing for even one job (0 when one job fits)."""
        return max(0, self.per_job - self.ports)

    def as_dict(self) -> dict:
        return {"range": self.name, "ports": self.ports, "ports_per_job": self.per_job,
                "concurrent_jobs": self.jobs, "shortfall": self.shortfall}


@fields_dataclass(frozen=True, slots=True)
class Plan:
    """A port plan: the media and agent ranges' capacity for the concurrent jobs, the
    ports each job binds and how long a port is held (seconds)."""

    resources: int
    media: RangeCapacity
    agent: RangeCapacity
    pool: RangeCapacity | None  # the union when the ranges overlap, else None
    shared_ports: int  # in both ranges
    hold_seconds: float
    job_engine_port: bool = True  # the profile's job engine binds a media port
    callback_source_port: bool = True  # the agent's callback binds an agent port
    control_port: bool = True  # the control connection binds a media port of its own

    @property
    def pools(self) -> list[RangeCapacity]:
        return [self.media, self.agent] + ([self.pool] if self.pool else [])

    @property
    def short(self) -> list[RangeCapacity]:
        """The pools too small for one job, each with its shortfall."""
        return [p for p in self.pools if p.shortfall]

    @property
    def jobs_per_hold(self) -> int:
        """Jobs that can start within one hold period: the smallest pool decides."""
        return min(p.jobs for p in self.pools)

    @property
    def fits(self) -> bool:
        return self.jobs_per_hold >= 1

    def as_dict(self) -> dict:
        return {
            "resources": self.resources,
            "media_ports": self.media.ports,
            "agent_ports": self.agent.ports,
            "shared_ports": self.shared_ports,
            "media_ports_per_job": self.media.per_job,
            "agent_ports_per_job": self.agent.per_job,
            "jobs_per_hold_period": self.jobs_per_hold,
            "hold_seconds": self.hold_seconds,
            "fits": self.fits,
            "ranges": [p.as_dict() for p in self.pools],
        }


def make_plan(config: Config, resources: int, profile: Profile | None = None) -> Plan:
    """The capacity of `config`'s media and agent ranges for jobs of `resources` (>= 1),
    under `profile` (default: the configured one). The NDMP port is left out of every
    count whose range holds it (usable_ports), so the union's is one less too."""
    profile = profile or load_profile(config.profile)
    media = RangeCapacity("media", usable_ports(config.media_range, config.ndmp_port),
                          ports_per_job("media", resources, profile))
    agent = RangeCapacity("agent", usable_ports(config.agent_range, config.ndmp_port),
                          ports_per_job("agent", resources, profile))
    shared = usable_ports(overlap(config.media_range, config.agent_range), config.ndmp_port)
    pool = None
    if shared:
        # Overlapping ranges draw from one pool: the union has to carry both sides.
        pool = RangeCapacity("media+agent", media.ports + agent.ports - shared,
                             media.per_job + agent.per_job)
    return Plan(resources, media, agent, pool, shared, config.port_hold_seconds,
                job_engine_port=bool(job_engine_ports(profile)),
                callback_source_port=bool(callback_source_ports(profile)),
                control_port=bool(control_ports(profile)))
