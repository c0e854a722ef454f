"""The IP layer, in bulk: IPv4 and IPv6 headers, their lengths and extension chains.

Lengths are tshark's: the IP length but never beyond the enclosing frame or datagram;
0 is a segmentation-offload super-frame (TSO, BIG TCP) running to the end of the frame;
an IPv6 jumbogram's length is in its hop-by-hop Jumbo Payload option (RFC 2675).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flowcheck.arrays import one_of
from flowcheck.decode.fragment_carry import CarriedPiece, FragmentCarry, FragmentKey
from flowcheck.decode.framing import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from flowcheck.decode.gather import Gather
from flowcheck.fields_dataclass import fields_dataclass

if TYPE_CHECKING:
    from flowcheck.decode.ipv6 import Extensions

# Classification values, as flowcheck.decode exports them.
TCP, NON_TCP, FRAGMENT, UNDECODABLE = 0, 1, 2, 3
# IPv6 next-header values that are extension headers the walker understands.
IPV6_EXTENSIONS = (0, 43, 44, 51, 60)

IPV4_HEADER = np.dtype([("first", "u1"), ("tos", "u1"), ("total", ">u2"), ("id", ">u2"),
                        ("frag", ">u2"), ("ttl", "u1"), ("proto", "u1"), ("sum", ">u2"),
                        ("src", ">u4"), ("dst", ">u4")])
IPV6_HEADER = np.dtype([("first", "u1"), ("flow", "V3"), ("length", ">u2"), ("next", "u1"),
                        ("hops", "u1"), ("src", ">u4", (4,)), ("dst", ">u4", (4,))])


@fields_dataclass(slots=True)
class Layers:
    """Per packet of a batch, the innermost IP layer decoded so far."""

    kind: np.ndarray  # uint8 classification (TCP is decided last)
    version: np.ndarray  # 4, 6; 0 when no IP layer
    proto: np.ndarray  # IP protocol of the payload, -1 when there is nothing to read
    l4: np.ndarray  # where the IP payload starts
    end: np.ndarray  # where it ends, from the IP lengths (never beyond the wire length)
    src: np.ndarray  # (n, 4) uint32 address words
    dst: np.ndarray
    first_fragment: np.ndarray  # bool: the upper header is here, its length unknown
    tunnel: np.ndarray  # int64 index into the TunnelTable
    ip_id: np.ndarray  # int64 IPv4 identification (RFC 791 3.1); 0 for IPv6 (none)
    ttl: np.ndarray  # uint8 IPv4 TTL (RFC 791 3.1) or IPv6 hop limit (RFC 8200 3)
    # Where the innermost frame (or packet) starts: 0, or a tunnel's inner offset.
    frame_at: np.ndarray
    # int64: the length of that frame as recorded when an IP header in it says the
    # packet was longer than the bytes that enclose it (cut before the capture, e.g. a
    # mirror's truncation inside ERSPAN); the outermost such cut; 0: none.
    cut_frame: np.ndarray
    # bool: a fragment of a datagram reassembled in the batch (not the completing one)
    assembled: np.ndarray


def ip_layer(gather: Gather, layers: Layers, rows: np.ndarray, base: np.ndarray,
             link: np.ndarray, carry: FragmentCarry | None = None) -> None:
    """Decode the IPv4/IPv6 headers at `base` of `rows` into `layers`; carry: the IPv4
    fragments the batch before left incomplete (decode.fragment_carry)."""
    caplen = gather.caplen
    v4 = link == ETHERTYPE_IPV4
    if v4.any():
        r, at = rows[v4], base[v4]
        ip = gather.header(at, IPV4_HEADER, r)
        first = ip["first"].astype(np.int64)
        ihl = (first & 0x0F) * 4
        total = ip["total"].astype(np.int64)
        frag = ip["frag"].astype(np.int64)
        enclosing = layers.end[r]
        # Total length 0: a segmentation offload super-frame (TSO, IPv4 BIG TCP), whose
        # datagram runs to the end of the frame, as tshark's TSO support reads it.
        end = np.where(total == 0, enclosing, np.minimum(at + total, enclosing))
        bad = ((at + 20 > caplen[r]) | (first >> 4 != 4) | (ihl < 20)
               | ((total != 0) & (total < ihl)) | (end < at + ihl))
        layers.kind[r[bad]] = UNDECODABLE
        _mark_cut(layers, r[~bad & (total != 0) & (at + total > enclosing)])
        # tshark reassembles the fragments it has whole; a first fragment cut by the snap
        # length it shows as TCP without a length; whole but never completed, as a fragment.
        whole = caplen[r] >= np.where(total == 0, end, at + total)  # by the IP length
        fragmented = np.flatnonzero(~bad & ((frag & 0x3FFF) != 0) & whole)
        if fragmented.size > 1 or (fragmented.size and carry is not None):
            _reassemble(gather, r, fragmented, ip, frag, at, ihl, end, layers.assembled, carry)
        later = ~bad & ((frag & 0x1FFF) != 0)
        first_fragment = ~bad & ~later & ((frag & 0x2000) != 0)
        held = first_fragment & whole
        layers.kind[r[later | held]] = FRAGMENT
        ok = ~bad & ~later & ~held
        r = r[ok]
        layers.first_fragment[r] = first_fragment[ok]
        layers.version[r] = 4
        layers.proto[r] = ip["proto"][ok]
        layers.l4[r] = at[ok] + ihl[ok]
        layers.end[r] = end[ok]
        layers.src[r] = 0
        layers.dst[r] = 0
        layers.src[r, 0] = ip["src"][ok]
        layers.dst[r, 0] = ip["dst"][ok]
        layers.ip_id[r] = ip["id"][ok]
        layers.ttl[r] = ip["ttl"][ok]
    v6 = link == ETHERTYPE_IPV6
    if v6.any():
        ipv6_layer(gather, layers, rows[v6], base[v6])


def _mark_cut(layers: Layers, rows: np.ndarray) -> None:
    """Layers.cut_frame of `rows`, whose IP length runs past the enclosing end (still in
    layers.end), unless an outer layer was cut already."""
    rows = rows[layers.cut_frame[rows] == 0]
    layers.cut_frame[rows] = layers.end[rows] - layers.frame_at[rows]


def _reassemble(gather: Gather, r: np.ndarray, fragmented: np.ndarray, ip: np.ndarray,
                frag: np.ndarray, at: np.ndarray, ihl: np.ndarray, end: np.ndarray,
                assembled: np.ndarray, carry: FragmentCarry | None = None) -> None:
    """IPv4 datagrams whose fragments are all in the batch (or, with `carry`, some in the
    batch before: decode.fragment_carry), as tshark reassembles them: the packet that
    completes the datagram becomes it (its bytes the first fragment's headers, then every
    fragment's payload: Gather.append) and the other fragments stay fragments (marked
    `assembled`, indexed by batch row). Arrays indexed like `r` are updated in place."""
    groups: dict[FragmentKey, list[int]] = {}
    keys = zip(ip["src"][fragmented].tolist(), ip["dst"][fragmented].tolist(),
               ip["id"][fragmented].tolist(), ip["proto"][fragmented].tolist(), strict=True)
    for i, key in zip(fragmented.tolist(), keys, strict=True):
        groups.setdefault(key, []).append(i)
    buf, start = gather.buf, gather.start
    rows: list[int] = []
    frames: list[bytes] = []

    def piece(p: int) -> CarriedPiece:
        row, data_at = int(r[p]), int(at[p] + ihl[p])
        offset = int(frag[p] & 0x1FFF) * 8
        return CarriedPiece(offset, offset + int(end[p]) - data_at, bool(frag[p] & 0x2000),
                            buf[start[row] + data_at:start[row] + end[p]].tobytes(),
                            buf[start[row]:start[row] + data_at].tobytes(), int(at[p]),
                            int(ihl[p]), ip[p].copy(), gather.capture_of(row))

    for key, pieces in groups.items():
        carried = carry.take(key) if carry is not None else []
        spans = [(c.offset, c.stop, c.more) for c in carried]
        for n, i in enumerate(pieces):  # capture order: whole at the last piece needed
            offset = int(frag[i] & 0x1FFF) * 8
            spans.append((offset, offset + int(end[i] - at[i] - ihl[i]), bool(frag[i] & 0x2000)))
            size = _whole(spans)
            if size is None:
                continue
            used = [piece(p) for p in pieces[:n + 1]]
            head = [span[0] for span in spans].index(0)
            first = (carried + used)[head]
            if head >= len(carried) and pieces[head - len(carried)] != i:
                frag[pieces[head - len(carried)]] = 1  # a fragment: the datagram is elsewhere
            rows.append(int(r[i]))
            frames.append(first.prefix + _payload([(c.offset, c.data) for c in carried + used],
                                                  size))
            at[i], ihl[i], ip[i] = first.at, first.ihl, first.header
            end[i] = first.at + first.ihl + size
            frag[i] = 0
            assembled[r[[p for p in pieces[:n + 1] if p != i]]] = True
            if carry is not None:
                carry.used.extend(c.capture for c in carried)
            break
        else:
            if carry is not None:  # incomplete here: the next batch may hold the rest
                carry.keep(key, carried + [piece(p) for p in pieces])
    gather.append(rows, frames)


def _payload(pieces: list[tuple[int, bytes]], size: int) -> bytes:
    """A datagram's `size` payload bytes put together from its pieces (offset, data);
    a later piece overlapping an earlier one wins."""
    payload = bytearray(size)
    for offset, data in pieces:
        data = data[:max(size - offset, 0)]
        payload[offset:offset + len(data)] = data
    return bytes(payload)


def _whole(spans: list[tuple[int, int, bool]]) -> int | None:
    """The datagram's payload length when the fragments' spans cover it, else None."""
    last = [stop for _, stop, more in spans if not more]
    if not last:
        return None
    covered = 0
    for start, stop, _ in sorted(spans):
        if start > covered:
            return None
        covered = max(covered, stop)
    return last[0] if covered >= last[0] else None


def ipv6_layer(gather: Gather, layers: Layers, r: np.ndarray, at: np.ndarray) -> None:
    caplen = gather.caplen
    ip = gather.header(at, IPV6_HEADER, r)
    bad = (at + 40 > caplen[r]) | (ip["first"] >> 4 != 6)
    layers.kind[r[bad]] = UNDECODABLE
    r, at, ip = r[~bad], at[~bad], ip[~bad]
    plen = ip["length"].astype(np.int64)
    proto = ip["next"].astype(np.int64)
    l4 = at + 40
    enclosing = layers.end[r]
    # Payload length 0: a jumbogram (RFC 2675, its length in the hop-by-hop header) or a
    # Linux BIG TCP super-frame without one, whose payload runs to the end of the frame.
    end = np.where(plen == 0, enclosing, np.minimum(l4 + plen, enclosing))
    _mark_cut(layers, r[(plen != 0) & (l4 + plen > enclosing)])
    # The usual jumbogram header, read in bulk: hop-by-hop of 8 bytes holding the option.
    hbh = gather.be(l4, 4, r)
    jumbo = (proto == 0) & ((hbh & 0xFFFFFF) == 0x00C204) & (l4 + 8 <= caplen[r])
    if jumbo.any():
        length = gather.be(l4[jumbo] + 4, 4, r[jumbo])
        end[jumbo] = np.where(plen[jumbo] == 0, np.minimum(at[jumbo] + 40 + length,
                                                           enclosing[jumbo]), -1)
        proto[jumbo] = hbh[jumbo] >> 24
        l4[jumbo] += 8
    layers.version[r] = 6
    layers.first_fragment[r] = False
    layers.proto[r] = proto
    layers.l4[r] = l4
    layers.end[r] = end
    layers.src[r] = ip["src"]
    layers.dst[r] = ip["dst"]
    layers.ip_id[r] = 0
    layers.ttl[r] = ip["hops"]
    # Other extension headers are rare: walk their chain in Python, one packet at a time
    # (decode.ipv6 loaded here, on the first IPv6 packet: issue 7, start-up).
    from flowcheck.decode.ipv6 import walk_ipv6_extensions

    pieces: list[tuple[int, Extensions, int]] = []  # fragments captured whole
    for i in np.flatnonzero(one_of(proto, IPV6_EXTENSIONS)).tolist():
        row = int(r[i])
        walked = walk_ipv6_extensions(gather.buf, int(gather.start[row]), int(caplen[row]),
                                      int(l4[i]), int(proto[i]))
        layers.proto[row] = -1
        if walked is None:
            layers.kind[row] = UNDECODABLE
        elif walked.fragment or (walked.first_fragment and caplen[row] >= enclosing[i]):
            # Not the first, or the first captured whole: a fragment, until the one that
            # completes its datagram (_reassemble_ipv6).
            layers.kind[row] = FRAGMENT
            if caplen[row] >= end[i] >= walked.frag_at + 8:
                pieces.append((row, walked, int(end[i])))
        else:
            layers.proto[row] = walked.next_header
            layers.l4[row] = walked.offset
            layers.first_fragment[row] = walked.first_fragment
            if walked.jumbo is not None:
                layers.end[row] = (-1 if plen[i] else
                                   min(int(at[i]) + 40 + walked.jumbo, int(enclosing[i])))
    if len(pieces) > 1:
        _reassemble_ipv6(gather, layers, pieces)
    # A jumbo option with a non-zero payload length is an error (RFC 2675): undecodable.
    broken = r[layers.end[r] < 0]
    layers.kind[broken] = UNDECODABLE
    layers.proto[broken] = -1


def _reassemble_ipv6(gather: Gather, layers: Layers,
                     pieces: list[tuple[int, Extensions, int]]) -> None:
    """IPv6 packets whose fragments (RFC 8200 4.5; rows captured whole, with their
    extension chain and where their IP payload ends) are all in the batch, as tshark
    reassembles them and as _reassemble does for IPv4: the fragment that completes the
    packet becomes it, read from the first fragment's headers and every fragment's
    payload (Gather.append); the other fragments stay fragments (trial 28 D9)."""
    groups: dict[tuple[bytes, bytes, int], list[tuple[int, Extensions, int]]] = {}
    for piece in pieces:
        row, walked, _ = piece
        key = (layers.src[row].tobytes(), layers.dst[row].tobytes(), walked.frag_id)
        groups.setdefault(key, []).append(piece)
    rows: list[int] = []
    frames: list[bytes] = []
    for group in groups.values():
        if len(group) < 2:
            continue
        spans: list[tuple[int, int, bool]] = []
        for row, walked, end in group:  # in capture order: whole at the last piece needed
            offset = walked.frag_offset
            spans.append((offset, offset + end - walked.frag_at - 8, walked.frag_more))
            size = _whole(spans)
            if size is None:
                continue
            head, first, _ = group[[span[0] for span in spans].index(0)]
            rows.append(row)
            buf, start = gather.buf, gather.start
            frames.append(buf[start[head]:start[head] + first.frag_at + 8].tobytes()
                          + _payload([(span[0], buf[start[p] + w.frag_at + 8:start[p] + e]
                                       .tobytes()) for span, (p, w, e)
                                      in zip(spans, group[:len(spans)], strict=True)], size))
            layers.kind[row] = NON_TCP  # TCP once its upper header is read
            layers.proto[row] = first.next_header
            layers.l4[row] = first.offset
            layers.end[row] = first.frag_at + 8 + size
            layers.first_fragment[row] = False
            layers.kind[head] = FRAGMENT  # counted as a fragment now the packet is elsewhere
            layers.assembled[[piece[0] for piece in group[:len(spans)] if piece[0] != row]] = True
            break
    gather.append(rows, frames)
