"""What the capture's ARP packets say about reachability (RFC 826): which addresses
were asked for, by whom, when, and which addresses ever spoke ARP themselves.

A host that never answers the ARP requests for its address is not on the requester's
network at that moment (down, unplugged, a wrong address); no IP packet reaches it from
there. Filled by the connection tracker from flowcheck.decode.arp, for the configured agents
only; read by flowcheck.verify.absent_agents (trial 23 D4).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np

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
    """The capture set's ARP requests for the `watched` addresses (the configured
    agents), by (requester, target), and which of them sent any ARP packet (a reply, a
    request of their own, an announcement). Nothing is kept of other addresses: an ARP
    storm costs a few numpy operations per batch."""

    watched: tuple[str, ...] = ()
    asked: dict[tuple[str, str], ArpAsked] = field(default_factory=dict)
    heard: set[str] = field(default_factory=set)
    # The watched IPv4 addresses as integers (made on first use).
    _numbers: np.ndarray | None = field(default=None, init=False, repr=False)

    def add(self, frames: np.ndarray, times: np.ndarray, ops: np.ndarray,
            senders: np.ndarray, targets: np.ndarray) -> None:
        """One batch's ARP packets (IPv4 addresses as integers). A probe (sender
        0.0.0.0, RFC 5227) asks for no neighbour; a gratuitous request (sender = target)
        only announces the sender."""
        if self._numbers is None:
            self._numbers = np.array([int(ipaddress.IPv4Address(a)) for a in self.watched
                                      if ipaddress.ip_address(a).version == 4], np.int64)
        if not self._numbers.size:
            return
        for sender in np.unique(senders[np.isin(senders, self._numbers)]).tolist():
            self.heard.add(str(ipaddress.IPv4Address(sender)))
        rows = np.flatnonzero((ops == 1) & (senders != 0) & (senders != targets)
                              & np.isin(targets, self._numbers))
        for row in rows.tolist():
            key = (str(ipaddress.IPv4Address(int(senders[row]))),
                   str(ipaddress.IPv4Address(int(targets[row]))))
            ts = float(times[row])
            asked = self.asked.get(key)
            if asked is None:
                asked = self.asked[key] = ArpAsked(first_ts=ts)
            asked.count += 1
            asked.last_ts = ts
            if len(asked.frames) < FRAMES_KEPT:
                asked.frames.append(int(frames[row]))

    def unanswered(self, target: str) -> dict[str, ArpAsked]:
        """The requests for `target` (a watched address) by requester, when `target`
        never sent an ARP packet in the capture ({} when it did, or nobody asked)."""
        if target in self.heard:
            return {}
        return {requester: asked for (requester, asked_for), asked in self.asked.items()
                if asked_for == target}
