"""Tunnels, in bulk: the packets whose IP payload is another packet, and which tunnel.

Decapsulated: VXLAN (UDP 4789, and 8472 that Linux used before IANA's), VXLAN-GPE (4790),
Geneve (6081), GRE (RFC 2784/2890: plain, key, sequence; the payload by its protocol
type, so IP, Ethernet bridging, MPLS), ERSPAN types I, II and III (Cisco; draft-foschiano-
erspan), WCCP redirection (GRE 0x883E), PPTP's enhanced GRE (RFC 2637), IP in IP (4)
and IPv6 in IP (41), over IPv4 or IPv6. `find` returns, for the packets that are tunnels,
where the inner packet starts (in flowcheck.decode.framing's terms) and the tunnel's
identity; `TunnelTable` names the identities.
"""

from __future__ import annotations

import socket
from dataclasses import field

import numpy as np

from flowcheck.arrays import one_of
from flowcheck.decode.framing import (
    BAD,
    ETHERNET,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    ETHERTYPE_MPLS,
    NOT_IP,
    PPP,
)
from flowcheck.decode.gather import Gather
from flowcheck.fields_dataclass import fields_dataclass

IPPROTO_IPIP, IPPROTO_UDP, IPPROTO_IPV6, IPPROTO_GRE = 4, 17, 41, 47
TUNNEL_PROTOCOLS = (IPPROTO_IPIP, IPPROTO_UDP, IPPROTO_IPV6, IPPROTO_GRE)
VXLAN_PORTS = (4789, 8472)
VXLAN_GPE_PORT = 4790
GENEVE_PORT = 6081
GRE_ERSPAN, GRE_ERSPAN3, GRE_WCCP, GRE_PPP = 0x88BE, 0x22EB, 0x883E, 0x880B


@fields_dataclass(frozen=True, slots=True)
class TunnelPorts:
    """The UDP ports read as VXLAN and as Geneve: the standard ones plus those a user
    names (--vxlan-port, --geneve-port: Cisco ACI's iVXLAN on 48879, a collector on a
    custom port; trial 22 D6)."""

    vxlan: tuple[int, ...] = VXLAN_PORTS
    geneve: tuple[int, ...] = (GENEVE_PORT,)

    @classmethod
    def adding(cls, vxlan: tuple[int, ...] = (), geneve: tuple[int, ...] = ()) -> TunnelPorts:
        """The standard ports and these."""
        return cls(tuple(dict.fromkeys((*VXLAN_PORTS, *vxlan))),
                   tuple(dict.fromkeys((GENEVE_PORT, *geneve))))


STANDARD_PORTS = TunnelPorts()

# Tunnel kinds and how a connection record names them.
VXLAN, VXLAN_GPE, GENEVE, GRE, ERSPAN1, ERSPAN2, ERSPAN3, IPIP, PPTP = range(1, 10)
NAMES = {VXLAN: "vxlan", VXLAN_GPE: "vxlan-gpe", GENEVE: "geneve", GRE: "gre",
         ERSPAN1: "erspan1", ERSPAN2: "erspan2", ERSPAN3: "erspan3", IPIP: "ipip",
         PPTP: "pptp"}
SEQUENCED = (ERSPAN2, ERSPAN3)  # mirror streams whose GRE sequence numbers are read
GPE_NEXT = {1: ETHERTYPE_IPV4, 2: ETHERTYPE_IPV6, 3: ETHERNET, 5: ETHERTYPE_MPLS}


@fields_dataclass(slots=True)
class Found:
    """The tunnel packets among the rows given to `find`, in the order of those rows."""

    rows: np.ndarray  # batch positions
    off: np.ndarray  # where the inner packet starts
    kind: np.ndarray  # what starts there (framing.py)
    tunnel: np.ndarray  # tunnel kind (VXLAN, ...)
    end: np.ndarray  # end of the outer payload (the UDP length bounds it)


def find(gather: Gather, rows: np.ndarray, proto: np.ndarray, l4: np.ndarray,
         end: np.ndarray, ports: TunnelPorts = STANDARD_PORTS) -> Found:
    """Tunnels among `rows` (parallel arrays: IP protocol, transport offset, end of the
    IP payload); ports: the UDP ports of VXLAN and Geneve. Rows whose protocol is not a
    tunnel's are left out."""
    parts = [_udp(gather, rows, proto, l4, end, ports), _gre(gather, rows, proto, l4, end)]
    ipip = np.flatnonzero((proto == IPPROTO_IPIP) | (proto == IPPROTO_IPV6))
    parts.append(Found(rows[ipip], l4[ipip],
                       np.where(proto[ipip] == IPPROTO_IPIP, ETHERTYPE_IPV4, ETHERTYPE_IPV6),
                       np.full(ipip.size, IPIP), end[ipip]))
    return Found(*(np.concatenate([getattr(p, name) for p in parts])
                   for name in ("rows", "off", "kind", "tunnel", "end")))


def _empty() -> Found:
    empty = np.zeros(0, dtype=np.int64)
    return Found(empty, empty, empty, empty, empty)


def _udp(gather: Gather, rows: np.ndarray, proto: np.ndarray, l4: np.ndarray,
         end: np.ndarray, ports: TunnelPorts) -> Found:
    at = np.flatnonzero(proto == IPPROTO_UDP)
    if not at.size:
        return _empty()
    r, off = rows[at], l4[at]
    sport, dport = gather.be(off, 2, r), gather.be(off + 2, 2, r)
    # The destination port decides; the source port when the destination is no tunnel's.
    known = (*ports.vxlan, VXLAN_GPE_PORT, *ports.geneve)
    port = np.where(np.isin(dport, known), dport, sport)
    hit = np.flatnonzero(np.isin(port, known) & (off + 16 <= gather.caplen[r]))
    if not hit.size:
        return _empty()
    r, off, port = r[hit], off[hit], port[hit]
    length = gather.be(off + 4, 2, r)
    outer_end = end[at[hit]]
    outer_end = np.where(length >= 8, np.minimum(outer_end, off + length), outer_end)
    tunnel = np.full(r.size, VXLAN, dtype=np.int64)
    inner = off + 16
    kind = np.full(r.size, ETHERNET, dtype=np.int64)
    gpe = port == VXLAN_GPE_PORT
    if gpe.any():
        tunnel[gpe] = VXLAN_GPE
        nxt = gather.u8(off[gpe] + 11, r[gpe])
        kind[gpe] = [GPE_NEXT.get(value, NOT_IP) for value in nxt.tolist()]
    geneve = np.isin(port, ports.geneve)
    if geneve.any():
        tunnel[geneve] = GENEVE
        first = gather.u8(off[geneve] + 8, r[geneve])
        inner[geneve] += (first & 0x3F) * 4
        kind[geneve] = np.where(first >> 6 == 0, gather.be(off[geneve] + 10, 2, r[geneve]),
                                NOT_IP)
    return Found(r, inner, kind, tunnel, outer_end)


def _gre(gather: Gather, rows: np.ndarray, proto: np.ndarray, l4: np.ndarray,
         end: np.ndarray) -> Found:
    at = np.flatnonzero(proto == IPPROTO_GRE)
    if not at.size:
        return _empty()
    r, off = rows[at], l4[at]
    flags = gather.be(off, 2, r)
    ptype = gather.be(off + 2, 2, r)
    version = flags & 7
    checksum, routing = (flags & 0x8000) != 0, (flags & 0x4000) != 0
    has_key, has_seq = (flags & 0x2000) != 0, (flags & 0x1000) != 0
    header = (off + 4 + np.where(checksum | routing, 4, 0) + np.where(has_key, 4, 0)
              + np.where(has_seq, 4, 0))
    tunnel = np.full(r.size, GRE, dtype=np.int64)
    inner, kind = header.copy(), ptype.copy()
    # Version 1 is PPTP's: a key made of payload length and call id, an optional ack.
    pptp = version == 1
    inner[pptp] = (off + 8 + np.where(has_seq, 4, 0) + np.where((flags & 0x80) != 0, 4, 0))[pptp]
    kind[pptp] = np.where(ptype[pptp] == GRE_PPP, PPP, NOT_IP)
    tunnel[pptp] = PPTP
    plain = version == 0
    erspan = plain & (ptype == GRE_ERSPAN)
    # ERSPAN type I has no sequence number and no header; type II has both.
    tunnel[erspan & ~has_seq] = ERSPAN1
    two = erspan & has_seq
    tunnel[two] = ERSPAN2
    inner[two] += 8
    three = plain & (ptype == GRE_ERSPAN3)
    tunnel[three] = ERSPAN3
    # An 8-byte platform-specific subheader follows when the O flag is set.
    inner[three] += 12 + np.where((gather.u8(header[three] + 11, r[three]) & 1) != 0, 8, 0)
    kind[erspan | three] = ETHERNET
    # WCCP: a 4-byte redirect header, unless IP follows at once (as tshark guesses).
    wccp = plain & (ptype == GRE_WCCP)
    inner[wccp] += np.where(gather.u8(header[wccp], r[wccp]) >> 4 == 4, 0, 4)
    kind[wccp] = ETHERTYPE_IPV4
    kind[routing | (version > 1)] = NOT_IP  # source routes (RFC 1701) are obsolete
    kind[inner > gather.caplen[r]] = BAD
    return Found(r, inner, kind, tunnel, end[at])


@fields_dataclass(slots=True)
class MirrorSequence:
    """The ERSPAN type II and III packets of a batch (mirrored frames, whatever they
    carry) with their GRE sequence numbers, by which a collector tells the frames the
    mirror's stream lost on the way (flowcheck.connections.mirror_gaps)."""

    rows: np.ndarray  # batch positions
    tunnel: np.ndarray  # index into DecodedBatch.tunnels: the ERSPAN layer's tunnel
    session: np.ndarray  # the ERSPAN session ID (10 bits)
    seq: np.ndarray  # the GRE sequence number (RFC 2890)

    @classmethod
    def joined(cls, parts: list[MirrorSequence]) -> MirrorSequence | None:
        """The parts as one, in batch order; None without any packet."""
        parts = [p for p in parts if p.rows.size]
        if not parts:
            return None
        rows = np.concatenate([p.rows for p in parts])
        order = np.argsort(rows, kind="stable")
        return cls(rows[order], *(np.concatenate([getattr(p, name) for p in parts])[order]
                                  for name in ("tunnel", "session", "seq")))

    def moved(self, rows: np.ndarray, numbers: list[int]) -> MirrorSequence:
        """The same packets at the batch positions rows[self.rows], tunnel i numbered
        numbers[i] (a part's decode merged into its batch's)."""
        renumber = np.array(numbers, dtype=np.int64)
        return MirrorSequence(rows[self.rows], renumber[self.tunnel], self.session, self.seq)


def erspan_sequence(gather: Gather, found: Found, l4: np.ndarray,
                    tunnel: np.ndarray) -> MirrorSequence | None:
    """The ERSPAN II/III packets among `found` (l4: each batch row's GRE header offset;
    tunnel: each row's tunnel number) with a GRE sequence number and session ID
    captured; None when `found` holds no ERSPAN II/III."""
    at = np.flatnonzero(one_of(found.tunnel, SEQUENCED))
    if not at.size:
        return None
    r = found.rows[at]
    off = l4[r]
    flags = gather.be(off, 2, r)
    seq_at = off + 4 + np.where((flags & 0xC000) != 0, 4, 0) + np.where(
        (flags & 0x2000) != 0, 4, 0)
    ok = ((flags & 0x1000) != 0) & (seq_at + 8 <= gather.caplen[r])
    r, seq_at = r[ok], seq_at[ok]
    session = gather.be(seq_at + 6, 2, r) & 0x3FF  # after the version and VLAN
    return MirrorSequence(r, tunnel[r], session, gather.be(seq_at, 4, r))


def _address(version: int, words: np.ndarray) -> str:
    raw = b"".join(int(word).to_bytes(4, "big") for word in words)
    if version == 4:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    return socket.inet_ntop(socket.AF_INET6, raw)


@fields_dataclass(slots=True)
class TunnelTable:
    """The tunnels of one batch by number: names[0] is "" (no tunnel).

    A tunnel is named by its layers, outermost first, joined by " / "; a layer is
    `<kind> <address> <address>`, its outer IP addresses in ascending numeric order, e.g.
    "vxlan 10.25.132.11 10.25.132.13" (docs/json.md). Both directions of a connection
    must share the name, so identifiers that may differ per direction (VNIs under OVN's
    Geneve or EVPN asymmetric IRB, GRE keys, PPTP call ids) are not part of it.
    """

    names: list[str] = field(default_factory=lambda: [""])
    _index: dict[str, int] = field(default_factory=lambda: {"": 0})

    def add(self, parent: np.ndarray, found: Found, version: np.ndarray, src: np.ndarray,
            dst: np.ndarray) -> np.ndarray:
        """Numbers for one more layer over `parent` (per row: its tunnel so far, the
        layer's kind, the outer IP version and addresses)."""
        if not parent.size:
            return parent
        if self._one_ipv4_tunnel(parent, found, version, src, dst):
            # A batch of one IPv4 tunnel (a capture on the underlay between two VTEPs):
            # its name once, without the general path's per-row keys.
            return np.full(parent.shape[0], self._number(
                parent, found, 4, np.minimum(src[:1], dst[:1]), np.maximum(src[:1], dst[:1]),
                0), dtype=np.int64)
        swap = _descending(src, dst)
        low = np.where(swap[:, None], dst, src).astype(np.uint64)
        high = np.where(swap[:, None], src, dst).astype(np.uint64)
        key = np.column_stack((parent.astype(np.uint64), found.tunnel.astype(np.uint64),
                               version.astype(np.uint64), low, high))
        if (key == key[0]).all():
            first, inverse = np.zeros(1, np.int64), np.zeros(key.shape[0], np.int64)
        else:
            _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
        numbers = np.empty(first.shape[0], dtype=np.int64)
        for u, k in enumerate(first.tolist()):
            numbers[u] = self._number(parent, found, int(version[k]), low, high, k)
        return numbers[inverse]

    def _number(self, parent: np.ndarray, found: Found, version: int, low: np.ndarray,
                high: np.ndarray, k: int) -> int:
        """The number of row k's tunnel (low/high: its outer addresses, ordered)."""
        layer = (f"{NAMES[int(found.tunnel[k])]} {_address(version, low[k])} "
                 f"{_address(version, high[k])}")
        outer = self.names[int(parent[k])]
        full = f"{outer} / {layer}" if outer else layer
        if full not in self._index:
            self._index[full] = len(self.names)
            self.names.append(full)
        return self._index[full]

    @staticmethod
    def _one_ipv4_tunnel(parent: np.ndarray, found: Found, version: np.ndarray,
                         src: np.ndarray, dst: np.ndarray) -> bool:
        """Whether every row is the same IPv4 tunnel layer over the same parent (either
        direction). An IPv4 address is one word, so ordering the pair by it is the
        general path's order (_descending)."""
        if not (version == 4).all():
            return False
        low, high = np.minimum(src[:, 0], dst[:, 0]), np.maximum(src[:, 0], dst[:, 0])
        return bool((low == low[0]).all() and (high == high[0]).all()
                    and (parent == parent[0]).all()
                    and (found.tunnel == found.tunnel[0]).all())


def _descending(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Per row: src's address words compare greater than dst's."""
    differ = src != dst
    first = np.argmax(differ, axis=1)
    pick = np.arange(src.shape[0])
    return differ.any(axis=1) & (src[pick, first] > dst[pick, first])
