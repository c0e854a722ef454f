"""Connections whose two directions arrive in two tunnels: one connection, not two halves.

A connection's flow key holds the tunnel its packets arrived in (flowcheck.connections.
flows), so that one inner 4-tuple in two tunnels is two connections and a connection
captured in a tunnel and out of it is two copies (flowcheck.connections.tunnel_copies).
A tunnel is named by its kinds and outer addresses (flowcheck.decode.tunnels), and the
outer addresses are not always the same both ways:
- ERSPAN from two switches, each mirroring its host's port to one collector: the media
  server's packets come from one switch, the agent's from the other (a mirror
  encapsulation's outer source is the mirroring device, not a hop of the connection);
- VXLAN or Geneve with an asymmetric return path: a host behind a vPC/MLAG pair or in
  an EVPN fabric answers from an anycast VTEP that is not the address it is reached at.
Each tunnel then holds one direction only, and every connection came out as two halves
(a clean job failed with step_missing, a refused callback read as unanswered: trial 22,
D5), where tshark keys a stream on the inner 4-tuple and sees one.

- one direction plain, the other in a tunnel: one collector NIC fed by a local SPAN of
  the media server's switch port and an ERSPAN session from the agent's remote switch,
  or a VTEP's underlay that sees the routed-back direction decapsulated nowhere (field
  check: encapsulation invariance, D1: a clean job failed with step_missing).

So an inner 4-tuple whose packets first arrive in a tunnel (or plain) holding one
direction of it joins the connection of another tunnel of the same kinds (layer by
layer), or of a plain half when one of the two is plain, that, up to the end of this
batch, holds only the other direction: the later half's packets take the earlier one's
name, and the connection is named by the carrier of its first packet (null: plain). A
carrier that holds both directions joins nothing: two that each carry the whole
connection are copies (tunnel_copies), or two tenants' connections.

An ICMP unreachable quoting a packet of a joined half arrives in the other direction's
tunnel: it takes the name of the tunnel its quoted packet's direction arrived in, so it
still answers that packet (a callback refused through the other switch).

Work is per flow and per batch: nothing for a batch without a tunnel, nothing per flow
until two carriers (two tunnels, or a tunnel and plain halves) are seen, and the packets
are renumbered in bulk (numpy) only when a batch holds a joined half.
"""

from __future__ import annotations

from itertools import compress
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.connections.flows import FEW_PACKETS, BatchFlows, Endpoint, FlowKey, group_flows
from flowcheck.decode import DecodedBatch

if TYPE_CHECKING:
    from flowcheck.decode import IcmpQuote  # decode.ipv6: loaded on first use

FROM_LOWER, FROM_UPPER = 1, 2  # directions seen of a 4-tuple in a tunnel (bit mask)


class TunnelHalves:
    """Joins the halves of connections split between two tunnels (module docstring).

    `joined` counts the halves joined so far.
    """

    def __init__(self) -> None:
        # Per inner 4-tuple (lower, upper endpoint): each tunnel that held one direction
        # of it when first seen (in order of first arrival), and the directions seen in
        # it since. A connection whose batch shows both directions in one tunnel is not
        # kept (the usual tunnelled connection: no half), so this holds halves only.
        self._halves: dict[tuple[Endpoint, Endpoint], dict[str, int]] = {}
        # (lower, upper, tunnel) -> the tunnel its connection is named by.
        self._alias: dict[tuple[Endpoint, Endpoint, str], str] = {}
        self._kinds: dict[str, tuple[str, ...]] = {}
        # Until a second tunnel shows (none can be joined before), the flows that held
        # one direction in their batch are only listed, in bulk, and kept in _halves
        # once it does: a capture of one tunnel costs no Python work per flow.
        self._names: set[str] = set()
        self._listed: list[FlowKey] = []
        self._listed_masks: list[int] | None = []  # None once kept
        # The plain halves of the last batch before any tunnel (keys, masks).
        self._pending: tuple[list[FlowKey], list[int]] = ([], [])
        self.joined = 0

    def join(self, decoded: DecodedBatch, flows: BatchFlows) -> BatchFlows:
        """The batch's flows with each joined half renamed to its connection's tunnel
        (decoded.tcp_tunnel and .tunnels renamed to match; `flows` itself when none is),
        and its ICMP quotes' tunnels renamed as their quoted packets' (`quote_tunnel`)."""
        flows = self._join_flows(decoded, flows)
        for quote in decoded.icmp_quotes:
            self.quote_tunnel(quote)
        return flows

    def _join_flows(self, decoded: DecodedBatch, flows: BatchFlows) -> BatchFlows:
        if (len(decoded.tunnels) <= 1 and not self._names
                and flows.flow.shape[0] <= FEW_PACKETS):
            self._pending = _plain_halves(flows)  # as below, in Python ints
            return flows
        halves = None
        if flows.keys:
            firsts = flows.order[flows.bounds[:-1]]
            count = np.diff(flows.bounds)
            lower = np.bincount(flows.flow, weights=flows.from_lower,
                                minlength=len(flows.keys))
            masks = (np.where(lower > 0, FROM_LOWER, 0) | np.where(lower < count, FROM_UPPER, 0))
            halves = masks != FROM_LOWER | FROM_UPPER
        if len(decoded.tunnels) <= 1 and not self._names:
            # No tunnel yet: this batch's plain halves are kept until the next batch only,
            # in case its first tunnel holds their other directions (plain-only captures
            # keep nothing more).
            self._pending = ([], []) if halves is None else (
                list(compress(flows.keys, halves.tolist())), masks[halves].tolist())
            return flows
        if self._listed_masks is not None:
            if self._pending[0]:
                self._listed.extend(self._pending[0])
                self._listed_masks.extend(self._pending[1])
                self._names.add("")
            self._pending = ([], [])
            self._names.update(decoded.tunnels[1:])  # an ICMP message's tunnel too
            if (halves is not None and (halves & (decoded.tcp_tunnel[firsts] == 0)).any()
                    or any(not quote.tunnel for quote in decoded.icmp_quotes)):
                self._names.add("")  # plain halves (or rejects) beside a tunnel
            if len(self._names) > 1:
                self._keep_listed()
        if halves is None:
            return flows
        if self._listed_masks is not None:  # one carrier so far
            self._listed.extend(compress(flows.keys, halves.tolist()))
            self._listed_masks.extend(masks[halves].tolist())
            return flows
        # Flows that may be halves, and any flow of a 4-tuple seen as a half before.
        look = np.ones(len(flows.keys), bool) if self._halves else halves
        renamed: dict[int, str] = {}
        new: list[tuple[int, int]] = []  # (flow, mask): a half first seen now
        keys = flows.keys
        for f, mask in zip(np.flatnonzero(look).tolist(), masks[look].tolist(), strict=True):
            low, high, tunnel = keys[f]
            named = self._alias.get(keys[f]) if self._alias else None
            if named is not None:
                renamed[f] = named
                continue
            sides = self._halves.get((low, high))
            if sides is not None and tunnel in sides:
                sides[tunnel] |= mask
            elif mask != FROM_LOWER | FROM_UPPER:
                new.append((f, mask))
        # Paired once every earlier half has this batch's directions too.
        for f, mask in new:
            low, high, tunnel = keys[f]
            sides = self._halves.setdefault((low, high), {})
            named = self._pair(low, high, tunnel, sides, FROM_LOWER + FROM_UPPER - mask)
            if named is not None:
                renamed[f] = named
            else:
                sides[tunnel] = mask
        if not renamed:
            return flows
        tunnels = list(decoded.tunnels)
        number = {name: n for n, name in enumerate(tunnels)}
        per_flow = decoded.tcp_tunnel[firsts]
        for f, name in renamed.items():
            if name not in number:
                number[name] = len(tunnels)
                tunnels.append(name)
            per_flow[f] = number[name]
        decoded.tcp_tunnel = per_flow[flows.flow]
        decoded.tunnels = tunnels
        return group_flows(decoded)

    def _keep_listed(self) -> None:
        """The halves listed while one tunnel showed, kept (a second one shows now)."""
        for (low, high, tunnel), mask in zip(self._listed, self._listed_masks, strict=True):
            sides = self._halves.setdefault((low, high), {})
            sides[tunnel] = sides.get(tunnel, 0) | mask
        self._listed, self._listed_masks = [], None

    def _pair(self, low: Endpoint, high: Endpoint, tunnel: str, sides: dict[str, int],
              wanted: int) -> str | None:
        """Join (low, high, tunnel), first seen now with one direction, to an earlier
        tunnel of the same kinds that holds only the other direction (`wanted`) of that
        4-tuple and joined none yet; returns that tunnel's name, None without one."""
        for other, mask in sides.items():
            if mask == wanted and self._joinable(tunnel, other):
                self._alias[(low, high, tunnel)] = other
                sides[other] = FROM_LOWER | FROM_UPPER  # joined: no third half
                self.joined += 1
                return other
        return None

    def quote_tunnel(self, quote: IcmpQuote) -> None:
        """Rename the tunnel of an ICMP quote (of the batch `join` just took) to that of
        the connection its quoted packet belongs to, when it arrived in the tunnel of the
        other half (module docstring)."""
        if not self._halves:
            return
        src: Endpoint = (quote.version, quote.src, quote.sport)
        dst: Endpoint = (quote.version, quote.dst, quote.dport)
        low, high = (src, dst) if src <= dst else (dst, src)
        named = self._alias.get((low, high, quote.tunnel))
        if named is None:
            sides = self._halves.get((low, high))
            if not sides or quote.tunnel in sides:
                return
            # The quoted packet went from src: the tunnel holding only that direction.
            named = self._pair_quote(low, high, quote.tunnel,
                                     FROM_LOWER if src == low else FROM_UPPER)
        if named is not None:
            quote.tunnel = named

    def other_half(self, key: FlowKey, from_lower: bool, tunnel: str) -> bool:
        """May an ICMP message that arrived in `tunnel` answer a packet of the connection
        of `key` sent from its lower endpoint (from_lower) or upper one, that arrived in
        key's tunnel? Yes when that is `tunnel`, or when that tunnel holds only that
        packet's direction of the 4-tuple, `tunnel` none of it, and the two are of the
        same kinds (as quote_tunnel's rename: a message whose quote the snap length cut,
        flowcheck.connections.icmp_cut)."""
        low, high, own = key
        if own == tunnel:
            return True
        sides = self._halves.get((low, high))
        if not sides or tunnel in sides:
            return False
        return (sides.get(own) == (FROM_LOWER if from_lower else FROM_UPPER)
                and self._joinable(tunnel, own))

    def _pair_quote(self, low: Endpoint, high: Endpoint, tunnel: str,
                    wanted: int) -> str | None:
        for other, mask in self._halves[(low, high)].items():
            if mask == wanted and self._joinable(tunnel, other):
                self._alias[(low, high, tunnel)] = other
                return other
        return None

    def _joinable(self, tunnel: str, other: str) -> bool:
        """Two carriers whose halves may be one connection: tunnels of the same kinds,
        layer by layer, or one of them plain ("": a local SPAN beside a remote ERSPAN)."""
        return not tunnel or not other or self._kinds_of(tunnel) == self._kinds_of(other)

    def _kinds_of(self, tunnel: str) -> tuple[str, ...]:
        """The kind of each layer of a tunnel's name ("erspan2 a b / vxlan c d")."""
        kinds = self._kinds.get(tunnel)
        if kinds is None:
            kinds = self._kinds[tunnel] = tuple(layer.split(" ", 1)[0]
                                                for layer in tunnel.split(" / "))
        return kinds


def _plain_halves(flows: BatchFlows) -> tuple[list[FlowKey], list[int]]:
    """_join_flows' pending plain halves of a batch of a few packets (at most
    flows.FEW_PACKETS; no tunnel seen yet): the keys of the flows seen one way only,
    and each one's direction mask, by a pass over the packets (the numpy pass's
    bincount and masks cost ~10 calls a batch)."""
    masks = [0] * len(flows.keys)
    for f, low in zip(flows.flow.tolist(), flows.from_lower.tolist(), strict=True):
        masks[f] |= FROM_LOWER if low else FROM_UPPER
    one_way = [mask != FROM_LOWER | FROM_UPPER for mask in masks]
    return list(compress(flows.keys, one_way)), list(compress(masks, one_way))
