"""Which hosts' packets frames in an encapsulation flowcheck does not read could carry,
and when (review 25b: one UDP packet between unrelated hosts on port 1701, taken for
L2TP, turned a capture of one direction's FAIL into INCONCLUSIVE).

Per encapsulation found (flowcheck.decode.unread), per address: the first and last
packet time (s, epoch) of its frames that name it. The addresses: the outer IP source
and destination of those carried in IP (a tunnel ends at the hosts it runs between, or
its frames carry packets of other hosts), and where the tunnel header is fixed and the
inner IPv4 header follows it, that header's source and destination too (GTP-U, TS
29.281 5.1; MPLS-in-UDP, RFC 7510; GRE-in-UDP, RFC 8086 and RFC 2890; L2TPv2 data, RFC
2661 3.1, PPP IPv4). Those that carry Ethernet frames (PBB, MACsec, NSH, TZSP, L2TPv3
over IP) get ANY: the hosts' MAC addresses are not known to flowcheck, so they may carry
any host's packets (decode.skipped.ETHER_NAMES).
"""

from __future__ import annotations

import ipaddress

import numpy as np

from flowcheck.decode.gather import Gather

ANY = ""  # the address of frames that may carry any host's packets
Spans = dict[tuple[str, str], tuple[float, float]]  # (name, address) -> (first, last) s
UDP_HEADER = 8
GTP_G_PDU = 255


def ip_spans(gather: Gather, name: str, rows: np.ndarray, version: np.ndarray,
             src: np.ndarray, dst: np.ndarray, l4: np.ndarray, ts: np.ndarray) -> Spans:
    """The spans of an encapsulation's frames carried in IP (rows; version, src, dst
    (n, 4 words), l4: their outer IP layer's; ts: their times, s)."""
    keys = [np.column_stack((version, src)), np.column_stack((version, dst))]
    inner = _inner_ipv4(gather, name, rows, l4)
    if inner is not None:
        at, ok = inner
        four = np.full(int(ok.sum()), 4, dtype=np.uint64)
        zeros = np.zeros((int(ok.sum()), 3), dtype=np.uint64)
        for shift in (12, 16):
            words = gather.be(at[ok] + shift, 4, rows[ok]).astype(np.uint64)
            keys.append(np.column_stack((four, words, zeros)))
        stamps = [ts, ts, ts[ok], ts[ok]]
    else:
        stamps = [ts, ts]
    key = np.concatenate([k.astype(np.uint64) for k in keys])
    when = np.concatenate(stamps)
    unique, index = np.unique(key, axis=0, return_inverse=True)
    index = index.reshape(-1)
    first = np.full(unique.shape[0], np.inf)
    last = np.full(unique.shape[0], -np.inf)
    np.minimum.at(first, index, when)
    np.maximum.at(last, index, when)
    return {(name, _address(row)): (float(a), float(b))
            for row, a, b in zip(unique.tolist(), first.tolist(), last.tolist(), strict=True)}


def any_spans(name: str, ts: np.ndarray) -> Spans:
    """The span of an encapsulation's frames whose hosts are not known (Ethernet ones)."""
    return {(name, ANY): (float(ts.min()), float(ts.max()))}


def merge_spans(into: Spans, other: Spans, limit: int) -> None:
    """Add other's spans; beyond limit addresses, each encapsulation's fold into ANY."""
    for key, (first, last) in other.items():
        have = into.get(key)
        into[key] = (first, last) if have is None else (min(have[0], first),
                                                         max(have[1], last))
    if len(into) > limit:
        folded: Spans = {}
        for (name, _), (first, last) in into.items():
            have = folded.get((name, ANY))
            folded[(name, ANY)] = (first, last) if have is None else (
                min(have[0], first), max(have[1], last))
        into.clear()
        into.update(folded)


def _inner_ipv4(gather: Gather, name: str, rows: np.ndarray,
                l4: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Where the inner IPv4 header starts after the tunnel header (offsets), and which
    rows hold one whole there; None for an encapsulation without a fixed header."""
    at = l4 + UDP_HEADER
    caplen = gather.caplen[rows]
    if name == "GTP-U":  # flags, type 255 (G-PDU), length, TEID; E/S/PN: 4 bytes more
        head = gather.be(at, 2, rows)
        ok = (head & 0xFF) == GTP_G_PDU
        at = at + 8 + np.where((head >> 8) & 0x07, 4, 0)
        ok &= ((head >> 8) & 0x04) == 0  # an extension header chain: not followed
    elif name == "MPLS-in-UDP":  # labels of 4 bytes up to the bottom of stack
        ok = np.zeros(rows.shape[0], dtype=bool)
        done = np.zeros(rows.shape[0], dtype=bool)
        for _ in range(4):
            bottom = ~done & ((gather.be(at + 2, 1, rows) & 1) == 1)
            ok |= bottom
            done |= bottom
            at = np.where(done & ~bottom, at, at + 4)
    elif name == "GRE-in-UDP":  # flags (C, K, S: 4 bytes each), protocol 0x0800
        flags = gather.be(at, 1, rows)
        ok = (gather.be(at + 2, 2, rows) == 0x0800) & ((flags & 0x0F) == 0)
        at = at + 4 + 4 * (((flags >> 7) & 1) + ((flags >> 5) & 1) + ((flags >> 4) & 1))
    elif name == "L2TP":  # v2 data: flags+version, [length], tunnel, session, [Ns Nr]
        flags = gather.be(at, 2, rows)
        ok = ((flags & 0x000F) == 2) & ((flags & 0x8000) == 0) & ((flags & 0x0200) == 0)
        at = at + 6 + np.where(flags & 0x4000, 2, 0) + np.where(flags & 0x0800, 4, 0)
        at = at + np.where(gather.be(at, 2, rows) == 0xFF03, 2, 0)  # address, control
        ok &= gather.be(at, 2, rows) == 0x0021  # PPP: IPv4
        at = at + 2
    else:
        return None
    ok &= (at + 20 <= caplen) & ((gather.be(at, 1, rows) >> 4) == 4)
    return at, ok


def _address(row: list[int]) -> str:
    """(version, four words) as text."""
    if row[0] == 4:
        return str(ipaddress.IPv4Address(int(row[1])))
    return str(ipaddress.IPv6Address(b"".join(int(w).to_bytes(4, "big") for w in row[1:5])))
