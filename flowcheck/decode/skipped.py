"""What the packets the decoder skipped were, in bulk: the words of a capture that holds
no TCP flowcheck can read (flowcheck.verify.capture_contents).

Per batch, from the general decode's layers (flowcheck.decode): the packets that are IP
but not TCP by IP protocol, address pair and UDP port (a tunnel on a port flowcheck does
not decode shows as UDP between two VTEPs); those not IP at all by their Ethernet
ethertype (MPLS pseudowires, ARP, LLDP); and the undecodable ones by cause: a link type
flowcheck does not read, or a record cut by the snap length before the TCP header ends
(and the tunnel it was cut in). The flows are counted only when asked (the tracker stops
asking once the capture shows an NDMP control connection): it is bulk work on every
skipped packet. The encapsulations flowcheck knows by name but does not read
(flowcheck.decode.unread: PBB, GTP-U, ...) are counted always, with the first frame of
each: the job may be inside them. Counts are the packets'; keys are bounded (MAX_KEYS).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import field

import numpy as np

from flowcheck.arrays import distinct, one_of
from flowcheck.decode.arp import ArpPackets
from flowcheck.decode.framing import ETHERTYPE_TEB
from flowcheck.decode.gather import Gather
from flowcheck.decode.ip import NON_TCP, UNDECODABLE, Layers
from flowcheck.decode.legs import PACKET_OUTGOING, cooked_loopback, cooked_packet_types
from flowcheck.decode.link import LINK_STEPS
from flowcheck.decode.other_ways import Ways, count_ways
from flowcheck.decode.tunnels import IPPROTO_UDP
from flowcheck.decode.unread import ETHERTYPES, by_ethertype, by_ip
from flowcheck.decode.unread_hosts import Spans, any_spans, ip_spans, merge_spans
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.sources.batch import LINKTYPE_ETHERNET, PacketBatch

VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
# Those that carry Ethernet frames of any host (decode.unread_hosts: the hosts' MAC
# addresses are not known) or, IP-less, none to read.
ETHER_NAMES = {e.name for e in ETHERTYPES.values()} | {"TZSP", "L2TPv3"}
MAX_KEYS = 4096  # distinct flows kept; beyond, the rarest go (their packets still count)

# A flow of skipped IP packets: (IP version, protocol (-1: a tunnel whose payload is not
# IP), lower address, higher address (as text), the lower UDP port (0: not UDP), the
# tunnel it was found in ("" none), whether the UDP payload carries an Ethernet frame
# as VXLAN or Geneve do (a tunnel on a port flowcheck does not decode)).
FlowKey = tuple[int, int, str, str, int, str, bool]
# What follows the MAC addresses of an Ethernet frame carried in UDP (IPv4, IPv6, VLAN
# tags, ARP), and Geneve's protocol type for one.
INNER_ETHERTYPES = (0x0800, 0x86DD, 0x8100, 0x88A8, 0x0806)
VXLAN_INNER_ETHERTYPE_AT = 8 + 8 + 12  # UDP header, VXLAN header, MAC addresses


@fields_dataclass(slots=True)
class Skipped:
    """The skipped packets of a batch or a whole capture set, by what they were."""

    flows: Counter[FlowKey] = field(default_factory=Counter)  # IP, not TCP
    ethertypes: Counter[int] = field(default_factory=Counter)  # not IP, on Ethernet
    # Of ethertypes' ARP: those about the sender's own address, a probe (sender IP
    # 0.0.0.0) or an announcement (sender IP = target IP), RFC 5227 (capture_contents).
    arp_own: int = 0
    unknown_links: Counter[int] = field(default_factory=Counter)  # link type not read
    cut: int = 0  # undecodable: the snap length ended the record before the TCP header
    snap: int = 0  # the longest of those records, bytes (the snap length, at least)
    shortest: int = 0  # the shortest of them, bytes: less than snap when the cuts vary
    cut_tunnel: str = ""  # the tunnel the first of them was cut inside, "" none
    # Packets in an encapsulation flowcheck does not read (decode.unread), by its name,
    # and the frame number of the first of each.
    unread: Counter[str] = field(default_factory=Counter)
    unread_first: dict[str, int] = field(default_factory=dict)
    unread_first_ts: dict[str, float] = field(default_factory=dict)  # that frame's time
    # Which hosts' packets they could carry, and when (decode.unread_hosts).
    unread_spans: Spans = field(default_factory=dict)
    # Their Linux cooked capture packet types (decode.legs.cooked_packet_types: 0 to the
    # capture host, 1 broadcast, 2 multicast, 3 another host's, 4 sent by it), of the
    # skipped packets that carry one: a capture with no TCP whose every packet is marked
    # one way was taken of one direction (tcpdump -Q; lab matrix seed 125 run 23). A
    # loopback interface's packets are left out (sent and arriving at once: review 56a).
    cooked: Counter[int] = field(default_factory=Counter)
    # The packets that are not TCP per (source, destination) pair, always counted
    # (decode.other_ways): a direction the capture holds that its TCP does not show.
    ways: Ways = field(default_factory=Ways)

    def merge(self, other: Skipped) -> None:
        """Add another batch's counts."""
        self.flows.update(other.flows)
        if len(self.flows) > MAX_KEYS:
            self.flows = Counter(dict(self.flows.most_common(MAX_KEYS // 2)))
        self.ethertypes.update(other.ethertypes)
        self.arp_own += other.arp_own
        self.unknown_links.update(other.unknown_links)
        self.cut += other.cut
        self.snap = max(self.snap, other.snap)
        self.shortest = min(self.shortest or other.shortest, other.shortest or self.shortest)
        self.cut_tunnel = self.cut_tunnel or other.cut_tunnel
        self.unread.update(other.unread)
        self.cooked.update(other.cooked)
        for name, frame in other.unread_first.items():
            if frame < self.unread_first.get(name, frame + 1):
                self.unread_first[name] = frame
                if name in other.unread_first_ts:
                    self.unread_first_ts[name] = other.unread_first_ts[name]
        merge_spans(self.unread_spans, other.unread_spans, MAX_KEYS)
        self.ways.merge(other.ways)

    def cut_words(self) -> str:
        """How the records were cut: "at 96 bytes by the snap length", or, when their
        lengths vary (a tool that cut each frame on its own, not one snap length: trial
        36 D5), "by the capture at lengths from 1 to 103 bytes"."""
        if self.shortest and self.shortest < self.snap:
            return (f"by the capture at lengths from {self.shortest} to {self.snap:,} bytes "
                    "(not one snap length)")
        return f"at {self.snap:,} bytes by the snap length"

    def unread_frames(self) -> dict[str, tuple[int, int]]:
        """Per encapsulation flowcheck does not read, by name, most frames first:
        (frames, the first one's number)."""
        return {name: (count, self.unread_first[name])
                for name, count in self.unread.most_common()}

    def arriving(self) -> bool:
        """Does the Linux cooked header of a packet here mark it arriving at the capture
        host (`cooked`: 0 to it, 1 broadcast, 2 multicast, 3 another host's), not sent by
        it (4)? Then the set is not of leaving packets alone (verify.opening.leaving_only:
        a host's `tcpdump -i any` holds the ARP reply that let it send its SYNs; review
        56m)."""
        return any(kind != PACKET_OUTGOING for kind in self.cooked)


def describe_skipped(batch: PacketBatch, gather: Gather, layers: Layers,
                     tunnel_names: list[str], flows: bool,
                     arp: ArpPackets | None = None) -> Skipped | None:
    """The batch's skipped packets (layers: the general decode's, kinds final); None when
    it skipped none. flows: count the IP flows and ethertypes too; arp: the batch's ARP
    packets (decode.arp), whose replies count among the pairs (decode.other_ways)."""
    kind = layers.kind
    linktype = np.asarray(batch.linktype)
    skipped = Skipped()
    bad = np.flatnonzero(kind == UNDECODABLE)
    if bad.size:
        _undecodable(skipped, gather, linktype, layers, tunnel_names, bad)
    other = kind == NON_TCP
    ip = np.flatnonzero(other & (layers.version > 0))
    plain = np.flatnonzero(other & (layers.version == 0) & (linktype == LINKTYPE_ETHERNET))
    ethertype = _ethertype(gather, plain) if plain.size else None
    found = by_ip(gather, ip, layers.proto[ip], layers.l4[ip]) if ip.size else []
    if ethertype is not None:
        found += by_ethertype(plain, ethertype)
    ts = np.asarray(batch.ts)
    for name, rows in found:
        skipped.unread[name] += int(rows.size)
        numbers = batch.frame_numbers(rows)
        first = int(np.argmin(numbers))
        skipped.unread_first[name] = int(numbers[first])
        skipped.unread_first_ts[name] = float(ts[rows][first])
        spans = (any_spans(name, ts[rows]) if name in ETHER_NAMES else
                 ip_spans(gather, name, rows, layers.version[rows], layers.src[rows],
                          layers.dst[rows], layers.l4[rows], ts[rows]))
        merge_spans(skipped.unread_spans, spans, MAX_KEYS)
    _ways(skipped, batch, gather, layers, ip, found, arp)
    if flows:
        if ip.size:
            _flows(skipped, gather, layers, tunnel_names, ip)
        if ethertype is not None:
            codes, counts = np.unique(ethertype, return_counts=True)
            skipped.ethertypes.update(dict(zip(codes.tolist(), counts.tolist(), strict=True)))
            if arp is not None and len(arp):
                own = (arp.sender == 0) | (arp.sender == arp.target)
                skipped.arp_own += int(np.count_nonzero(own & np.isin(arp.position, plain)))
    skipped_rows = np.flatnonzero(other | (kind == UNDECODABLE))
    marked = cooked_packet_types(batch, skipped_rows)
    if (marked >= 0).any():  # a loopback packet is both sent and arriving: no one way
        marked[cooked_loopback(batch, skipped_rows)] = -1
    if (marked >= 0).any():
        codes, counts = np.unique(marked[marked >= 0], return_counts=True)
        skipped.cooked.update(dict(zip(codes.tolist(), counts.tolist(), strict=True)))
    if not (skipped.flows or skipped.ethertypes or skipped.unknown_links or skipped.cut
            or skipped.unread or skipped.cooked or skipped.ways):
        return None
    return skipped


def _ways(skipped: Skipped, batch: PacketBatch, gather: Gather, layers: Layers,
          ip: np.ndarray, found: list[tuple[str, np.ndarray]], arp: ArpPackets | None) -> None:
    """Count the pairs (decode.other_ways) of the IP rows `ip` that are not TCP, less
    the encapsulations flowcheck does not read (`found`), and of the ARP replies."""
    if found and ip.size:
        ip = ip[~np.isin(ip, np.concatenate([rows for _, rows in found]))]
    ethernet = np.zeros(ip.shape[0], dtype=bool)
    udp = layers.proto[ip] == IPPROTO_UDP
    if udp.any():
        at, l4 = ip[udp], layers.l4[ip[udp]]
        ethernet[udp] = (l4 + 4 <= gather.caplen[at]) & _carries_ethernet(gather, at, l4)
    if ip.size or (arp is not None and len(arp)):
        skipped.ways = count_ways(batch, gather, layers, ip, ethernet,
                                  arp if arp is not None else ArpPackets.empty())


def _undecodable(skipped: Skipped, gather: Gather, linktype: np.ndarray, layers: Layers,
                 tunnel_names: list[str], rows: np.ndarray) -> None:
    links = linktype[rows]
    # np.isin against every link type known would sort (np.unique: numpy.ma imported).
    unknown = one_of(links, tuple(v for v in distinct(links).tolist() if v not in LINK_STEPS))
    if unknown.any():
        codes, counts = np.unique(links[unknown], return_counts=True)
        skipped.unknown_links.update(dict(zip(codes.tolist(), counts.tolist(), strict=True)))
    known = rows[~unknown]
    cut = known[gather.caplen[known] < gather.wirelen[known]]
    if cut.size:
        skipped.cut = int(cut.size)
        skipped.snap = int(gather.caplen[cut].max())
        skipped.shortest = int(gather.caplen[cut].min())
        inside = cut[layers.tunnel[cut] > 0]
        if inside.size:
            skipped.cut_tunnel = tunnel_names[int(layers.tunnel[inside[0]])]


def _flows(skipped: Skipped, gather: Gather, layers: Layers, tunnel_names: list[str],
           rows: np.ndarray) -> None:
    proto = layers.proto[rows]
    l4 = layers.l4[rows]
    udp = (proto == IPPROTO_UDP) & (l4 + 4 <= gather.caplen[rows])
    ports = np.zeros(rows.shape[0], dtype=np.int64)
    ethernet = np.zeros(rows.shape[0], dtype=bool)
    if udp.any():
        at = rows[udp]
        ports[udp] = np.minimum(gather.be(l4[udp], 2, at), gather.be(l4[udp] + 2, 2, at))
        ethernet[udp] = _carries_ethernet(gather, at, l4[udp])
    src, dst = layers.src[rows].astype(np.uint64), layers.dst[rows].astype(np.uint64)
    # Lower address first, word by word (the order of the address as a number).
    lower = _lower_first(src, dst)
    low = np.where(lower[:, None], src, dst)
    high = np.where(lower[:, None], dst, src)
    key = np.column_stack((layers.version[rows].astype(np.uint64),
                           (proto + 1).astype(np.uint64), low, high,
                           ports.astype(np.uint64), layers.tunnel[rows].astype(np.uint64),
                           ethernet.astype(np.uint64)))
    if (key == key[0]).all():
        unique, counts = key[:1], np.array([key.shape[0]])
    else:
        unique, counts = np.unique(key, axis=0, return_counts=True)
    for row, count in zip(unique.tolist(), counts.tolist(), strict=True):
        version = int(row[0])
        skipped.flows[(version, int(row[1]) - 1, _address(version, row[2:6]),
                       _address(version, row[6:10]), int(row[10]),
                       tunnel_names[int(row[11])], bool(row[12]))] += count


def _carries_ethernet(gather: Gather, rows: np.ndarray, l4: np.ndarray) -> np.ndarray:
    """Per UDP packet: does its payload hold an Ethernet frame after a VXLAN header
    (8 bytes), or is it a Geneve header of protocol type Ethernet."""
    caplen = gather.caplen[rows]
    vxlan = (l4 + VXLAN_INNER_ETHERTYPE_AT + 2 <= caplen) & np.isin(
        gather.be(l4 + VXLAN_INNER_ETHERTYPE_AT, 2, rows), INNER_ETHERTYPES)
    geneve = (l4 + 12 <= caplen) & (gather.be(l4 + 10, 2, rows) == ETHERTYPE_TEB)
    return vxlan | geneve


def _lower_first(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Per row: is src's address (four words) at most dst's."""
    lower = np.ones(src.shape[0], dtype=bool)
    decided = np.zeros(src.shape[0], dtype=bool)
    for word in range(4):
        differ = ~decided & (src[:, word] != dst[:, word])
        lower[differ] = src[differ, word] < dst[differ, word]
        decided |= differ
    return lower


def _address(version: int, words: list[int]) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(int(words[0])))
    return str(ipaddress.IPv6Address(b"".join(int(w).to_bytes(4, "big") for w in words)))


def _ethertype(gather: Gather, rows: np.ndarray) -> np.ndarray:
    """Per Ethernet frame: the ethertype after the MAC addresses and up to two VLAN
    tags."""
    ethertype = gather.be(np.full(rows.shape[0], 12, dtype=np.int64), 2, rows)
    for tagged_at in (16, 20):
        tagged = one_of(ethertype, VLAN_TAGS)
        if not tagged.any():
            break
        ethertype[tagged] = gather.be(np.full(int(tagged.sum()), tagged_at, dtype=np.int64),
                                      2, rows[tagged])
    return ethertype
