"""The fixes of capture_filtered (flowcheck.verify.filtered.report_left_out): capture on
the interface the data took, between a three-way job's two agents, or with a filter that
keeps both hosts' whole conversation (split from flowcheck.verify.filtered, its size)."""

from __future__ import annotations

from flowcheck.model import Announcement, Session
from flowcheck.sessions.local import other_version
from flowcheck.verify.context import Context
from flowcheck.verify.shared import three_way_hosts


def elsewhere_fix(found: list[tuple[Announcement, str]]) -> str:
    """The capture_filtered fix when the data went to another interface (_elsewhere)."""
    listeners = sorted({host for _, host in found})
    announced = sorted({a.ip for a, _ in found})
    who = "the agent" if found[0][0].listener == "data" else "the media server"
    hosts = " or ".join(f"host {h}" for h in dict.fromkeys(listeners + announced))
    # NDMP v4 cannot announce an IPv6 address: no "announce it instead" (trial 28 D4).
    same = sorted({host for a, host in found if not other_version(a.ip, host)})
    instead = (f" If the data should not use that interface, make {who} announce "
               f"{' and '.join(same)} instead (its data interface / preferred network)."
               if same else "")
    return (f"Capture on all interfaces (tcpdump -i any -w job.pcap, on the media server "
            f"or the agent) or on the one toward {' and '.join(announced)}, keeping every "
            f"address the job uses (tcpdump -i any -w job.pcap '{hosts}').{instead}")


def between_agents(ctx: Context, sessions: list[Session]) -> dict[str, tuple[str, str]]:
    """Session id -> (connector, listener) for those of a three-way job whose two NDMP
    servers are two hosts other than the DMA (flowcheck.verify.shared.three_way_hosts)."""
    found = {}
    for session in sessions:
        dma = ctx.by_uid[session.control_uid].orig_h
        for ann in session.announced:
            hosts = three_way_hosts(ctx, session, ann)
            if hosts is not None and hosts[0] != hosts[1] and dma not in hosts[:2]:
                found[session.id] = hosts[0], hosts[1]
                break
    return found


def job_hosts(ctx: Context, sessions: list[Session]) -> str:
    """A BPF expression for the media servers and agents of these sessions (every
    session when none is given): "host A and host B"."""
    chosen = sessions or ctx.sessions
    media = sorted({s.media_server for s in chosen})
    agents = sorted({s.remote_agent for s in chosen})
    if not media:
        return "host MEDIA and host AGENT"
    return f"{_hosts(media)} and {_hosts(agents)}"


def _hosts(hosts: list[str]) -> str:
    """A BPF primitive for any of the hosts: "host A", "(host A or host B)"."""
    words = " or ".join(f"host {h}" for h in hosts)
    return f"({words})" if len(hosts) > 1 else words
