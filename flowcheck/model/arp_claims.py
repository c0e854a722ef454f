"""Who claimed which address on the capture's network by ARP (RFC 826) or neighbour
discovery (RFC 4861), with which MAC, and when: what a packet from an agent's address
proves about that agent (flowcheck.verify.link_proof).

A packet from an address is not always its host's: a router or firewall answers ARP for
the hosts behind it with its own MAC (proxy ARP, RFC 1027), and a second machine given
the same address answers with its own. And a host that answered at one time may be down
or elsewhere at another. So what is kept is what tells those apart, per host, never per
packet:
- per configured agent address and MAC, the packets sent from that address (an ARP
  packet's sender address, a neighbour message's IPv6 source): their count and, per
  `WINDOW`-long slice of time, the first and the last (frame, time) of the slice, so
  whether one came within WINDOW of a given time is exact (`Sighting.kept`, `gaps`);
- per configured agent address, every MAC that claimed it, with its first frame: an ARP
  packet's sender, a neighbour message from it, and an advertisement naming it as its
  target from another address (a proxy's advertisement, RFC 4861 7.2.8);
- per MAC, the IPv4 addresses its ARP packets claimed (sender addresses), any address:
  one MAC for several is a router answering for others, or a host with several
  addresses, which the capture cannot tell apart.
- per IPv6 address, any address, the first neighbour solicitation sent to it (its own
  unicast address: a reachability probe, RFC 4861 7.3.3) from another address
  (`asked_for`): a frame travelling toward that host, which a capture of its own
  outgoing packets alone (tcpdump -Q out, a SPAN of what it sends) never holds
  (flowcheck.verify.opening: lab matrix seed 123 run 19). Not a solicitation to a
  multicast group, nor an ARP request (a broadcast): those reach every port of a
  segment.
Each is capped (the *_KEPT constants): past a cap, nothing more of that kind is kept,
and the reading (flowcheck.verify.link_proof) stays on the side of claiming less.
"""

from __future__ import annotations

from dataclasses import field

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model.spans import merged_spans

# s: how long an ARP or neighbour discovery exchange shows a neighbour reachable. RFC
# 4861 6.3.2's REACHABLE_TIME is 30 s (an entry stays REACHABLE for a random 0.5 to 1.5
# times it: 15-45 s); Linux's neigh base_reachable_time is 30 s for ARP and ND alike,
# Windows' ReachableTime 15-45 s. Past it the stacks themselves no longer take the
# entry for proof and ask again, so a packet further than this from the connection
# attempts says nothing of the host at their time.
WINDOW = 30.0
SLICES_KEPT = 4096  # per (address, MAC): 34 hours of packets at WINDOW
MACS_KEPT = 8  # per configured agent address
ADDRESSES_KEPT = 8  # per MAC: enough to tell one from several and name a few
SENDERS_KEPT = 65536  # MACs whose ARP claims are kept, in the whole capture set
ASKED_KEPT = 4096  # addresses whose first solicitation by another is kept


@fields_dataclass(slots=True)
class Sighting:
    """One configured address's packets from one MAC (NO_HARDWARE: none known)."""

    count: int = 0
    # int(time // WINDOW) -> (first frame, its time, last frame, its time) in that slice.
    slices: dict[int, tuple[int, float, int, float]] = field(default_factory=dict)

    def add(self, frame: int, ts: float) -> None:
        """One more packet, at `frame` and time `ts` (s)."""
        self.count += 1
        key = int(ts // WINDOW)
        kept = self.slices.get(key)
        if kept is None:
            if len(self.slices) < SLICES_KEPT:
                self.slices[key] = (frame, ts, frame, ts)
            return
        first, first_ts, last, last_ts = kept
        if ts < first_ts:
            first, first_ts = frame, ts
        if ts >= last_ts:
            last, last_ts = frame, ts
        self.slices[key] = (first, first_ts, last, last_ts)

    def kept(self) -> list[tuple[int, float]]:
        """The (frame, time) of every kept packet (each slice's first and last). Enough
        for the window: a packet within WINDOW of a time has its slice's first or last
        packet within WINDOW of it too (the slice is WINDOW long)."""
        return [kept for first, first_ts, last, last_ts in self.slices.values()
                for kept in ((first, first_ts), (last, last_ts))]


def gaps(times: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """Per time (s), how far it is from the nearest of `spans` ((first, last) times, s,
    at least one), 0 inside one: the spans merged where they overlap, then one binary
    search per time, so a night of attempts costs no more than one."""
    merged = merged_spans(spans)
    starts = np.array([span[0] for span in merged])
    ends = np.array([span[1] for span in merged])
    # The span starting at or before each time, and the next one.
    at = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(merged) - 1)
    after = np.minimum(at + 1, len(merged) - 1)
    here = np.maximum.reduce([starts[at] - times, times - ends[at], np.zeros_like(times)])
    there = np.maximum.reduce([starts[after] - times, times - ends[after],
                               np.zeros_like(times)])
    return np.minimum(here, there)


@fields_dataclass(slots=True)
class NeighbourClaims:
    """The claims of the capture set's ARP and neighbour discovery packets (module
    docstring). MACs are 48-bit integers, IPv4 addresses in `by_mac` integers; `spoke`
    and `claimants` hold configured agent addresses only, in text."""

    # (address, MAC) -> the packets sent from the address with that MAC.
    spoke: dict[tuple[str, int], Sighting] = field(default_factory=dict)
    # Address -> MAC -> the first frame claiming the address with it.
    claimants: dict[str, dict[int, int]] = field(default_factory=dict)
    # MAC -> IPv4 address -> the first frame of an ARP packet it sent from that address.
    by_mac: dict[int, dict[int, int]] = field(default_factory=dict)
    # A MAC past SENDERS_KEPT was left out of by_mac: a MAC missing there may have
    # claimed other addresses.
    senders_full: bool = False
    # IPv6 address (text) -> (frame, the asker's address, what it was: "neighbour
    # solicitation sent to it") of the first such request from another address: at most
    # ASKED_KEPT addresses.
    asked_for: dict[str, tuple[int, str, str]] = field(default_factory=dict)

    def asked(self, target: str, frame: int, asker: str, kind: str) -> None:
        """A request (`kind`) for `target` from `asker`, another address, at `frame`."""
        if target not in self.asked_for and len(self.asked_for) < ASKED_KEPT:
            self.asked_for[target] = (frame, asker, kind)

    def sent(self, address: str, mac: int, frame: int, ts: float) -> None:
        """A packet from configured `address` with `mac` (NO_HARDWARE: unknown)."""
        sighting = self.spoke.get((address, mac))
        if sighting is None:
            sighting = self.spoke[(address, mac)] = Sighting()
        sighting.add(frame, ts)
        self.claimed(address, mac, frame)

    def claimed(self, address: str, mac: int, frame: int) -> None:
        """`mac` claimed configured `address` at `frame` (unknown MACs are no claim)."""
        if mac < 0:
            return
        macs = self.claimants.setdefault(address, {})
        if mac not in macs and len(macs) < MACS_KEPT:
            macs[mac] = frame

    def arp_sender(self, mac: int, address: int, frame: int) -> None:
        """An ARP packet `mac` sent from IPv4 `address` (an integer, not 0.0.0.0)."""
        addresses = self.by_mac.get(mac)
        if addresses is None:
            if len(self.by_mac) >= SENDERS_KEPT:
                self.senders_full = True
                return
            addresses = self.by_mac[mac] = {}
        if address not in addresses and len(addresses) < ADDRESSES_KEPT:
            addresses[address] = frame
