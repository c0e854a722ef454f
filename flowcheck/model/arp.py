"""What the capture's ARP packets say about reachability (RFC 826): which addresses
were asked for, by whom, when, and which addresses ever spoke ARP themselves.

A host that never answers the ARP requests for its address is not on the requester's
network at that moment (down, unplugged, a wrong address); no IP packet reaches it from
there. Filled by the connection tracker from flowcheck.decode.arp; read by
flowcheck.verify.absent_agents (trial 23 D4).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

# Request frames kept per (requester, target); the rest are counted.
FRAMES_KEPT = 20


@dataclass(slots=True)
class ArpAsked:
    """One requester's ARP requests for one address."""

    count: int = 0
    frames: list[int] = field(default_factory=list)  # the first FRAMES_KEPT
    first_ts: float = 0.0
    last_ts: float = 0.0


@dataclass(slots=True)
class ArpLog:
    """The capture set's ARP requests by (requester, target) and the addresses that sent
    any ARP packet (a reply, a request of their own, an announcement)."""

    asked: dict[tuple[str, str], ArpAsked] = field(default_factory=dict)
    heard: set[str] = field(default_factory=set)

    def add(self, frames: list[int], times: list[float], ops: list[int],
            senders: list[int], targets: list[int]) -> None:
        """One batch's ARP packets (IPv4 addresses as integers). A probe (sender
        0.0.0.0, RFC 5227) asks for no neighbour; a gratuitous request (sender = target)
        only announces the sender."""
        names: dict[int, str] = {}

        def name(value: int) -> str:
            if value not in names:
                names[value] = str(ipaddress.IPv4Address(value))
            return names[value]

        for frame, ts, op, sender, target in zip(frames, times, ops, senders, targets,
                                                 strict=True):
            if sender == 0:
                continue
            self.heard.add(name(sender))
            if op != 1 or sender == target:
                continue
            asked = self.asked.get((name(sender), name(target)))
            if asked is None:
                asked = self.asked[(name(sender), name(target))] = ArpAsked(first_ts=ts)
            asked.count += 1
            asked.last_ts = ts
            if len(asked.frames) < FRAMES_KEPT:
                asked.frames.append(frame)

    def unanswered(self, target: str) -> dict[str, ArpAsked]:
        """The requests for `target` by requester, when `target` never sent an ARP packet
        in the capture ({} when it did, or nobody asked)."""
        if target in self.heard:
            return {}
        return {requester: asked for (requester, asked_for), asked in self.asked.items()
                if asked_for == target}
