"""Does an ARP or neighbour discovery packet from an agent's address show the agent up
at that address when its connection attempts came (flowcheck.verify.silent_host)?

Only when all of these hold (the claims: flowcheck.model.arp_claims):
- time: the packet came within model.arp_claims.WINDOW (30 s: RFC 4861's
  REACHABLE_TIME, Linux's base_reachable_time, Windows' 15-45 s) of an attempt's first
  or last SYN; an earlier or later one shows the host there then, not at the attempts
  (it may have gone down or changed address since);
- MAC: its MAC is the only one that claimed the address in the capture (a second one is
  a proxy answering beside the host, or a second host with the address: a duplicate);
  and, for IPv4, that MAC claimed no other address by ARP (a router or firewall
  answering ARP for the hosts behind it, proxy ARP, claims each of them and its own
  with one MAC; so does a host with several addresses, which the capture cannot tell
  apart from it). Not for IPv6: every IPv6 host has several addresses on one MAC (a
  link-local one beside each global one), and a proxy's advertisement comes from the
  proxy's own address, not the one it answers for (RFC 4861 7.2.8, Linux's proxy_ndp),
  so it is never a packet from the agent's address;
- a MAC is known: an ARP packet carries its sender's in its body on every link type (a
  raw IP capture holds no ARP at all); a neighbour message names it in its link-layer
  address option, else the frame's header does (Ethernet's source, a Linux cooked
  capture's address); a raw IP capture or a tunnel's inner packet without the option
  leaves it unknown.
Otherwise the words say what the capture shows of it, and claim nothing of the host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import numpy as np

from flowcheck.decode.arp import NO_HARDWARE
from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model.arp_claims import WINDOW, NeighbourClaims, gaps

_NAMED = 2  # other addresses or MACs named; more are counted


@fields_dataclass(frozen=True, slots=True)
class LinkProof:
    """What a packet from the agent's address shows: `up` True when it shows the agent
    up at that address at the attempts; `words` a clause that says so, or what the
    capture shows instead ("it sent an ARP packet from that address (frame 6), ...");
    `frame` that packet's."""

    up: bool
    words: str  # "it sent ..." when up, else "the capture holds ..."
    frame: int


def link_proof(claims: NeighbourClaims, address: str,
               spans: list[tuple[float, float]]) -> LinkProof | None:
    """The proof the capture's packets from `address` (a configured agent's) give of it
    for connection attempts whose SYNs went from spans[i][0] to spans[i][1] (s, in
    time order); None when it holds no ARP or neighbour discovery packet from it."""
    sightings = [(mac, sighting) for (sent_from, mac), sighting in claims.spoke.items()
                 if sent_from == address]
    if not sightings or not spans:
        return None
    what = "a neighbour discovery packet" if ":" in address else "an ARP packet"
    # Every kept packet (mac, frame, time), the nearest to the attempts first.
    kept = sorted((mac, frame, ts) for mac, sighting in sightings
                  for frame, ts in sighting.kept())
    gap = gaps(np.array([ts for _, _, ts in kept]), spans)
    # Within the window, one whose MAC is known first (it can be checked).
    nearest = min(range(len(kept)), key=lambda i: (
        bool(gap[i] > WINDOW), kept[i][0] == NO_HARDWARE, float(gap[i]), kept[i][1]))
    mac, frame, ts = kept[nearest]
    if gap[nearest] > WINDOW:
        return LinkProof(False, (
            f"the capture holds {what} from that address ({frame_text(frame)}), "
            f"{_when(ts, spans)}: more than {WINDOW:.0f} s from the attempts (a neighbour "
            f"is taken as reachable for about {WINDOW:.0f} s after an exchange: RFC 4861's "
            "REACHABLE_TIME, Linux's base_reachable_time), so it does not show the host up "
            "when the SYNs came"), frame)
    sent = f"the capture holds {what} from that address ({frame_text(frame)}, {_when(ts, spans)})"
    if mac == NO_HARDWARE:
        return LinkProof(False, (
            f"{sent}, but neither the message nor its frame's header names the sender's "
            "MAC address (no link-layer address option, and a raw IP capture or a "
            "tunnel's inner packet), so nothing tells the agent's packet from another "
            "host's with that address"), frame)
    others = {other: first for other, first in claims.claimants.get(address, {}).items()
              if other != mac}
    if others:
        named = _by_frame(others, mac_text)
        return LinkProof(False, (
            f"{sent} with the MAC address {mac_text(mac)}, but {named} claimed that address "
            "too: a router or firewall answering for the host (proxy ARP, a proxy's "
            "advertisement) or a second host with that address, so it does not show the "
            "agent up there"), frame)
    if ":" not in address and mac not in claims.by_mac and claims.senders_full:
        return LinkProof(False, (
            f"{sent} with the MAC address {mac_text(mac)}, but the capture's ARP packets "
            "come from more MACs than flowcheck keeps the addresses of, that one's among "
            "those left out, so a router answering ARP for several addresses (proxy ARP) "
            "cannot be ruled out and it does not show the agent up there"), frame)
    if ":" not in address:
        own = int(ipaddress.IPv4Address(address))
        also = {other: first for other, first in claims.by_mac.get(mac, {}).items()
                if other != own}
        if also:
            named = _by_frame(also, lambda other: str(ipaddress.IPv4Address(other)))
            return LinkProof(False, (
                f"{sent} with the MAC address {mac_text(mac)}, which claimed {named} too: "
                "a router or firewall answering ARP for the hosts behind it (proxy ARP) "
                "does so, as does a host with several addresses, so it may be a proxy's "
                "answer and does not show the agent up there"), frame)
    return LinkProof(True, (f"it sent {what} from that address ({frame_text(frame)}), so it is up "
                            "and at that address on the capture's network"), frame)


def mac_text(mac: int) -> str:
    """A 48-bit MAC address as "02:00:00:00:00:05"."""
    return ":".join(f"{(mac >> shift) & 0xFF:02x}" for shift in range(40, -8, -8))


def _when(ts: float, spans: list[tuple[float, float]]) -> str:
    """Where time `ts` is against the attempts: "1.2 s before the first SYN" (span_words)."""
    first, last = min(start for start, _ in spans), max(end for _, end in spans)
    if ts < first:
        return f"{span_words(first - ts)} before the first SYN"
    if ts > last:
        return f"{span_words(ts - last)} after the last SYN"
    gap = float(gaps(np.array([ts]), spans)[0])
    if gap == 0:
        return "while the SYNs were resent"
    return f"between the attempts, {span_words(gap)} from the nearest SYN"


def _by_frame(firsts: dict[int, int], text: Callable[[int], str]) -> str:
    """`firsts` (a MAC or an address -> the frame it was first claimed in) listed by
    _listed in frame order: "02:00:00:00:00:fe (frame 4) and 10.77.0.9 (frame 9)"."""
    return _listed([f"{text(item)} ({frame_text(first)})"
                    for item, first in sorted(firsts.items(), key=lambda o: o[1])])


def _listed(items: list[str]) -> str:
    """"A", "A and B", "A, B and 3 more"."""
    shown = items[:_NAMED]
    more = len(items) - len(shown)
    if more:
        return f"{', '.join(shown)} and {more} more"
    return " and ".join(shown)
