"""What the capture's ARP packets (RFC 826) and their IPv6 twin, neighbour discovery's
solicitations and advertisements (RFC 4861), say about reachability: which addresses
were asked for, by whom, when, and which addresses ever spoke ARP or neighbour discovery
themselves, with which MAC and when (flowcheck.model.arp_claims).

A host that never answers the ARP requests (neighbour solicitations) for its address is
not on the requester's network at that moment (down, unplugged, a wrong address); no IP
packet reaches it from there. Filled by the connection tracker from flowcheck.decode.arp
and flowcheck.decode.ndp, for the configured agents only; read by
flowcheck.verify.absent_agents (trial 23 D4, trial 28 D2) and, the claims,
flowcheck.verify.link_proof. An IPv6 address's requests are solicitations: `ArpLog.ipv6`
tells which.
"""

from __future__ import annotations

import ipaddress
from dataclasses import field

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model.arp_claims import ASKED_KEPT, NeighbourClaims

# Request frames kept per (requester, target); the rest are counted.
FRAMES_KEPT = 20
# flowcheck.decode.ndp's `op` of a solicitation to a multicast group (its SOLICIT) and
# of one sent to its target's own address (SOLICIT_DIRECT, which the decode takes from
# here: the model is the lower stage, tests/test_layers.py).
SOLICIT, SOLICIT_DIRECT = 1, 3


@fields_dataclass(slots=True)
class ArpAsked:
    """One requester's ARP requests for one address."""

    count: int = 0
    frames: list[int] = field(default_factory=list)  # the first FRAMES_KEPT
    first_ts: float = 0.0
    last_ts: float = 0.0


@fields_dataclass(slots=True)
class ArpLog:
    """The capture set's ARP requests for the `watched` addresses (the configured
    agents), by (requester, target), and which of them sent any ARP packet (a reply, a
    request of their own, an announcement). Nothing is kept of other addresses: an ARP
    storm costs a few numpy operations per batch."""

    watched: tuple[str, ...] = ()
    asked: dict[tuple[str, str], ArpAsked] = field(default_factory=dict)
    heard: set[str] = field(default_factory=set)
    # Who claimed the watched addresses (and, by ARP, any address), with which MAC and
    # when: whether a packet from a watched address is its host's (verify.link_proof).
    claims: NeighbourClaims = field(default_factory=NeighbourClaims)
    # The watched IPv4 addresses as integers (made on first use).
    _numbers: np.ndarray | None = field(default=None, init=False, repr=False)
    # The watched IPv6 addresses as rows of four 32-bit words (made on first use).
    _words: np.ndarray | None = field(default=None, init=False, repr=False)

    @staticmethod
    def ipv6(address: str) -> bool:
        """Is `address` IPv6 (its requests neighbour solicitations, not ARP requests)?"""
        return ":" in address

    def add(self, frames: np.ndarray, times: np.ndarray, ops: np.ndarray,
            senders: np.ndarray, targets: np.ndarray, hardware: np.ndarray) -> None:
        """One batch's ARP packets (IPv4 addresses as integers, `hardware` the sender's
        MAC as a 48-bit integer). A probe (sender 0.0.0.0, RFC 5227) asks for no
        neighbour and claims no address; a gratuitous request (sender = target) only
        announces the sender."""
        if self._numbers is None:
            self._numbers = np.array([int(ipaddress.IPv4Address(a)) for a in self.watched
                                      if ipaddress.ip_address(a).version == 4], np.int64)
        if not self._numbers.size:
            return
        claiming = np.flatnonzero(senders != 0)
        if claiming.size:  # each MAC's addresses, any address: one per pair, not packet
            pairs, first = np.unique(np.column_stack([hardware[claiming], senders[claiming]]),
                                     axis=0, return_index=True)
            for (mac, address), row in zip(pairs.tolist(), claiming[first].tolist(),
                                           strict=True):
                self.claims.arp_sender(mac, address, int(frames[row]))
        for row in np.flatnonzero(np.isin(senders, self._numbers)).tolist():
            sender = str(ipaddress.IPv4Address(int(senders[row])))
            self.heard.add(sender)
            self.claims.sent(sender, int(hardware[row]), int(frames[row]), float(times[row]))
        rows = np.flatnonzero((ops == 1) & (senders != 0) & (senders != targets)
                              & np.isin(targets, self._numbers))
        for row in rows.tolist():
            self._asked(str(ipaddress.IPv4Address(int(senders[row]))),
                        str(ipaddress.IPv4Address(int(targets[row]))), int(frames[row]),
                        float(times[row]))

    def add_neighbours(self, frames: np.ndarray, times: np.ndarray, ops: np.ndarray,
                       senders: np.ndarray, targets: np.ndarray,
                       hardware: np.ndarray) -> None:
        """One batch's neighbour solicitations (op 1) and advertisements (op 2), IPv6
        addresses as rows of four 32-bit words (flowcheck.decode.ndp), kept as ARP's
        requests and replies are: a solicitation from :: (duplicate address detection,
        RFC 4862 5.4) asks for no neighbour; an advertisement for a watched address, or
        any message from one, shows that address on the network. `hardware`: the MAC
        each message names (its link-layer address option, else its frame's sender;
        NO_HARDWARE: none); an advertisement for a watched address from another address
        (a proxy's, RFC 4861 7.2.8) claims it with its MAC."""
        if not ops.size:
            return
        # A solicitation sent to its target's own address by another: a frame toward
        # that host, any host (NeighbourClaims.asked_for).
        direct = np.flatnonzero((ops == SOLICIT_DIRECT) & senders.any(axis=1)
                                & ~(senders == targets).all(axis=1))
        if direct.size and len(self.claims.asked_for) < ASKED_KEPT:
            _, first = np.unique(targets[direct], axis=0, return_index=True)
            for row in sorted(direct[first].tolist()):
                self.claims.asked(_text(targets[row]), int(frames[row]), _text(senders[row]),
                                  "neighbour solicitation sent to it")
        ops = np.where(ops == SOLICIT_DIRECT, SOLICIT, ops)  # a solicitation all the same
        if self._words is None:
            self._words = np.array([np.frombuffer(ipaddress.IPv6Address(a).packed, ">u4")
                                    for a in self.watched if self.ipv6(a)],
                                   np.uint32).reshape(-1, 4)
        if not self._words.size:
            return
        sender_watched = _rows_in(senders, self._words)
        target_watched = _rows_in(targets, self._words)
        for row in np.flatnonzero(sender_watched).tolist():
            self.heard.add(_text(senders[row]))
            self.claims.sent(_text(senders[row]), int(hardware[row]), int(frames[row]),
                             float(times[row]))
        for row in np.flatnonzero(target_watched & (ops == 2)).tolist():
            self.heard.add(_text(targets[row]))
            self.claims.claimed(_text(targets[row]), int(hardware[row]), int(frames[row]))
        asks = (target_watched & (ops == 1) & senders.any(axis=1)
                & ~(senders == targets).all(axis=1))
        for row in np.flatnonzero(asks).tolist():
            self._asked(_text(senders[row]), _text(targets[row]), int(frames[row]),
                        float(times[row]))

    def _asked(self, requester: str, target: str, frame: int, ts: float) -> None:
        """One request (solicitation) from `requester` for `target`."""
        asked = self.asked.get((requester, target))
        if asked is None:
            asked = self.asked[(requester, target)] = ArpAsked(first_ts=ts)
        asked.count += 1
        asked.last_ts = ts
        if len(asked.frames) < FRAMES_KEPT:
            asked.frames.append(frame)

    def unanswered(self, target: str) -> dict[str, ArpAsked]:
        """The requests for `target` (a watched address) by requester, when `target`
        never sent an ARP packet in the capture ({} when it did, or nobody asked)."""
        if target in self.heard:
            return {}
        return {requester: asked for (requester, asked_for), asked in self.asked.items()
                if asked_for == target}


def _rows_in(addresses: np.ndarray, watched: np.ndarray) -> np.ndarray:
    """Per row of `addresses` ((n, 4) words), is it one of `watched`'s rows?"""
    return (addresses[:, None, :] == watched[None, :, :]).all(axis=2).any(axis=1)


def _text(words: np.ndarray) -> str:
    """An IPv6 address given as four 32-bit words, in RFC 5952 text."""
    return str(ipaddress.IPv6Address(words.astype(">u4").tobytes()))
