"""Group the TCP packets of a batch by flow, in bulk.

Per-batch Python work here is proportional to the number of distinct flows, never to the
number of packets: a 64-bit hash of each packet's directional 4-tuple is made with numpy,
the distinct hashes are found by comparison when there are few (`_peel`), else with
np.unique, and only those few are turned into Python endpoint tuples. Hash collisions are
detected (every row is compared with its group's representative) and then the exact,
slower np.unique over whole rows is used instead.
"""

from __future__ import annotations

import socket
from itertools import repeat

import numpy as np

from flowcheck.arrays import HASH_MULTIPLIERS, distinct, stable_order
from flowcheck.decode import DecodedBatch
from flowcheck.fields_dataclass import fields_dataclass

# An endpoint as the tracker keys it: (IP version, address bytes, port).
Endpoint = tuple[int, bytes, int]
# (lower endpoint, higher endpoint, tunnel): the tunnel's name (flowcheck.decode.tunnels),
# "" when not tunnelled, so one inner 4-tuple in two tunnels is two connections.
FlowKey = tuple[Endpoint, Endpoint, str]

FEW_PACKETS = 64  # a batch of at most this many TCP packets is grouped by _few_flows
PEEL_MAX = 8  # distinct directional 4-tuples in a batch found by comparison, not sorting
_PORT_BITS = np.uint64(16)
# Flows of a batch whose keys are made one at a time (_numbered_rows), not column-wise
FEW_KEYS = 128
PEEL_SAMPLE = 64  # packets, spread over a batch, whose 4-tuples tell it has more than PEEL_MAX
TABLE_SAMPLE = 512  # packets, spread over a batch, whose hashes fill _table_unique's table
TABLE_MAX = 192  # distinct values of that sample beyond which the batch is sorted instead


@fields_dataclass(slots=True)
class BatchFlows:
    """keys[f] is flow f's canonical key; per packet: its flow and whether it comes
    from the key's lower endpoint. `order` lists the packets grouped by flow (flows in
    order of first appearance, packets in capture order), `bounds[f]:bounds[f+1]` being
    flow f's slice of it."""

    keys: list[FlowKey]
    flow: np.ndarray
    from_lower: np.ndarray
    order: np.ndarray
    bounds: np.ndarray


def address_bytes(version: int, words: list[int]) -> bytes:
    """An address's bytes (4 for IPv4, 16 for IPv6) from its row of 32-bit words,
    already converted to Python ints."""
    if version == 4:
        return words[0].to_bytes(4, "big")
    return b"".join(word.to_bytes(4, "big") for word in words)


_PORTS: list[np.ndarray] = []


def port_items(ports: np.ndarray) -> list[int]:
    """ports (integers 0..65535) as a list of Python ints, each port number one object
    for the whole process (an object array of every port, made on the first call:
    about 2.6 MB): a record's ports and its flow key's are then the same objects, and a
    server's port one for all its connections, not an int each (about 90 bytes per
    short connection kept to the end, past 30,000 connections more than the table)."""
    return port_table()[ports].tolist()


def port_table() -> np.ndarray:
    """The process's port objects (port_items' object array, index: the port number)."""
    if not _PORTS:
        _PORTS.append(np.array(range(1 << 16), object))
    return _PORTS[0]


def address_text(version: int, raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if version == 4 else socket.AF_INET6, raw)


def endpoint_words(decoded: DecodedBatch, rows: np.ndarray | slice = slice(None)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per TCP packet (of `rows`): its source's and its destination's address word 0 and
    port as one 48-bit number each (uint64: word << 16 | port), ordered as FlowKey orders
    endpoints for IPv4 (an IPv6 address's first word only: its other words decide a
    tie)."""
    src = (decoded.tcp_src[rows, 0].astype(np.uint64) << _PORT_BITS) | (
        decoded.tcp_sport[rows].astype(np.uint64))
    dst = (decoded.tcp_dst[rows, 0].astype(np.uint64) << _PORT_BITS) | (
        decoded.tcp_dport[rows].astype(np.uint64))
    return src, dst


def _canonical(decoded: DecodedBatch) -> tuple[np.ndarray, np.ndarray]:
    """Per packet: its flow's canonical row (lower endpoint first, as FlowKey orders
    endpoints: address bytes, then port) and whether its source is the lower endpoint."""
    m = decoded.tcp_index.shape[0]
    tunnel = decoded.tcp_tunnel.any()
    if (decoded.tcp_version == 4).all():
        # IPv4 only (the usual batch): address and port in one 48-bit number per side,
        # ordered as the key's (address bytes, port).
        src, dst = endpoint_words(decoded)
        from_lower = src <= dst
        rows = np.empty((m, 3 if tunnel else 2), dtype=np.uint64)
        np.minimum(src, dst, out=rows[:, 0])
        np.maximum(src, dst, out=rows[:, 1])
    else:
        from_lower = decoded.tcp_sport <= decoded.tcp_dport
        for word in range(3, -1, -1):
            s, d = decoded.tcp_src[:, word], decoded.tcp_dst[:, word]
            from_lower = (s < d) | ((s == d) & from_lower)
        low = from_lower[:, None]
        rows = np.empty((m, 12 if tunnel else 11), dtype=np.uint64)
        rows[:, 0] = decoded.tcp_version
        rows[:, 1:5] = np.where(low, decoded.tcp_src, decoded.tcp_dst)
        rows[:, 5:9] = np.where(low, decoded.tcp_dst, decoded.tcp_src)
        rows[:, 9] = np.where(from_lower, decoded.tcp_sport, decoded.tcp_dport)
        rows[:, 10] = np.where(from_lower, decoded.tcp_dport, decoded.tcp_sport)
    if tunnel:
        rows[:, -1] = decoded.tcp_tunnel
    return rows, from_lower


def _peel(hashed: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """As np.unique(return_index, return_inverse) for a batch of few distinct values.

    One comparison per distinct value, each over the packets not matched yet: a bulk
    transfer's batch (a data direction and an ACK direction) costs about two passes,
    where np.unique would sort. None when there are more than PEEL_MAX values.
    """
    n = hashed.shape[0]
    same = hashed == hashed[0]
    if same.all():  # one direction of one connection only
        return np.zeros(1, np.int64), np.zeros(n, np.int64)
    # A sample spread over the batch tells whether it has more than PEEL_MAX flows (48
    # concurrent connections: peeling made PEEL_MAX passes for nothing, issue 7).
    if len(set(hashed[::max(1, n // PEEL_SAMPLE)].tolist())) > PEEL_MAX:
        return None
    inverse = np.empty(n, np.int64)
    firsts: list[int] = []
    positions = np.arange(n)
    values = hashed
    while values.shape[0]:
        if len(firsts) == PEEL_MAX:
            return None
        same = values == values[0]
        firsts.append(int(positions[0]))
        inverse[positions[same]] = len(firsts) - 1
        rest = ~same
        positions, values = positions[rest], values[rest]
    return np.array(firsts, np.int64), inverse


def _sorted_unique(hashed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each distinct value's first packet, inverse) of a batch's hashes, as
    np.unique(return_index, return_inverse) but for the groups' order (the caller numbers
    them by first appearance), hashes equal in all but their low bits taken as one (the
    caller's exact comparison of every row with its group's first then sends the batch
    to the exact path). One sort of values: each hash's low bits replaced by its
    position, so equal hashes come out adjacent, their positions ascending (np.unique's
    stable argsort of the hashes cost twice as much: 2.5 against 1.3 M instructions for
    8,300 packets of 100 flows)."""
    n = hashed.shape[0]
    bits = np.uint64(max(1, (n - 1).bit_length()))
    ordered = np.sort((hashed >> bits << bits) | np.arange(n, dtype=np.uint64))
    top = ordered >> bits
    position = (ordered & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
    new = np.empty(n, bool)
    new[0] = True
    np.not_equal(top[1:], top[:-1], out=new[1:])
    inverse = np.empty(n, np.int64)
    inverse[position] = new.cumsum() - 1
    return position[new], inverse


def _table_unique(hashed: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """_sorted_unique's (first index, inverse) of a batch's hashes without sorting them
    all, for a batch of tens to hundreds of flows (bench capture (d): 48 connections,
    ~90 flows a batch of ~18,000 packets, whose sort was most of the grouping, issue 7).

    The distinct values of a sample spread over the batch (TABLE_SAMPLE packets) go into
    a table of 2 ** bits slots by their top bits (one value a slot: of two sharing one,
    one is kept); every packet then finds its group by one look-up of its slot and an
    exact comparison of its hash. The few packets whose value is not in the table (flows
    the sample missed) are grouped by _sorted_unique. Equal hashes always fall in the
    same group, so the caller's exact comparison of every row with its group's first
    decides as for _sorted_unique's groups. None when the sample holds more than
    TABLE_MAX values or more than a quarter of the packets are not in the table (many
    flows: short connections), to sort them all."""
    n = hashed.shape[0]
    candidates = distinct(hashed[::max(1, n // TABLE_SAMPLE)])  # (np.unique: numpy.ma)
    k = candidates.shape[0]
    if k > TABLE_MAX:
        return None  # many flows (short connections): most would miss the table
    bits = max(10, (k * 16).bit_length())  # 16 slots a value at least
    shift = np.uint64(64 - bits)
    slot_of = (candidates >> shift).astype(np.int64)
    owner = np.full(1 << bits, -1, np.int64)
    owner[slot_of] = np.arange(k)
    kept = np.flatnonzero(owner[slot_of] == np.arange(k))  # one candidate a slot
    group = np.full(1 << bits, -1, np.int64)
    group[slot_of[kept]] = np.arange(kept.shape[0])
    values = np.zeros(1 << bits, np.uint64)
    values[slot_of[kept]] = candidates[kept]
    slot = (hashed >> shift).view(np.int64)  # an intp index: numpy's plain gather
    inverse = group[slot]
    # Not in the table: another value in its slot, or none (group -1, whatever value).
    missing = np.flatnonzero((values[slot] != hashed) | (inverse < 0))
    if missing.shape[0] * 4 > n:
        return None
    found = kept.shape[0]
    inverse[missing] = found  # for now: one group past the table's
    first = np.full(found + 1, n, np.int64)
    np.minimum.at(first, inverse, np.arange(n))
    first = first[:found]  # every kept value is a sampled packet's: each found
    if missing.size:
        rest_first, rest_inverse = _sorted_unique(hashed[missing])
        inverse[missing] = found + rest_inverse
        first = np.concatenate((first, missing[rest_first]))
    return first, inverse


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each distinct row's first packet, inverse), exact."""
    with np.errstate(over="ignore"):
        # Column by column: a sum along a short row axis is several times slower.
        hashed = rows[:, 0] * HASH_MULTIPLIERS[0]
        for column in range(1, rows.shape[1]):
            hashed += rows[:, column] * HASH_MULTIPLIERS[column]
        hashed ^= hashed >> np.uint64(29)
    peeled = _peel(hashed)
    if peeled is None:
        peeled = _table_unique(hashed)
    first, inverse = peeled if peeled is not None else _sorted_unique(hashed)
    if all(np.array_equal(rows[:, column], rows[first, column][inverse])
           for column in range(rows.shape[1])):
        return first, inverse
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def group_flows(decoded: DecodedBatch) -> BatchFlows:
    m = decoded.tcp_index.shape[0]
    if m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return BatchFlows([], empty, np.zeros(0, dtype=bool), empty, np.zeros(1, np.int64))
    few = _few_flows(decoded) if m <= FEW_PACKETS else None
    if few is not None:  # the same grouping, in Python ints
        keys, numbers, lower = few
        order = sorted(range(m), key=numbers.__getitem__)  # stable: capture order in each
        sizes = [0] * (len(keys) + 1)
        for number in numbers:
            sizes[number + 1] += 1
        for number in range(len(keys)):
            sizes[number + 1] += sizes[number]
        return BatchFlows(keys, np.array(numbers, np.int64), np.array(lower, bool),
                          np.array(order, np.int64), np.array(sizes, np.int64))
    keys, flow, from_lower = _numbered_rows(decoded)  # (_few_flows tried above)
    order = stable_order(flow, len(keys))
    bounds = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum(np.bincount(flow, minlength=len(keys)), out=bounds[1:])
    return BatchFlows(keys, flow, from_lower, order, bounds)


def numbered_flows(decoded: DecodedBatch) -> tuple[list[FlowKey], np.ndarray, np.ndarray]:
    """group_flows' keys, flow and from_lower alone (no grouped order): per TCP packet
    of a batch with some, its flow's number (int64, in order of first appearance) and
    whether it comes from the key's lower endpoint (connections.seams needs only the
    numbers)."""
    if decoded.tcp_index.shape[0] <= FEW_PACKETS:
        few = _few_flows(decoded)
        if few is not None:
            return few[0], np.array(few[1], np.int64), np.array(few[2], bool)
    return _numbered_rows(decoded)


def _numbered_rows(decoded: DecodedBatch) -> tuple[list[FlowKey], np.ndarray, np.ndarray]:
    """numbered_flows by numpy (sorted canonical rows), for any batch."""
    rows, from_lower = _canonical(decoded)
    first, inverse = _unique_rows(rows)
    # Flows numbered in order of first appearance; Python keys made once per flow, from
    # Python values of its fields (one conversion per column, no numpy scalar per key).
    by_appearance = np.argsort(first, kind="stable")
    number = np.empty(first.shape[0], dtype=np.int64)
    number[by_appearance] = np.arange(first.shape[0])
    flow = number[inverse]
    firsts = first[by_appearance]
    tunnels = decoded.tcp_tunnel[firsts].tolist() if rows.shape[1] in (3, 12) else None
    keys: list[FlowKey]
    if rows.shape[1] <= 3 and firsts.shape[0] <= FEW_KEYS:
        # A few flows (a bulk transfer's batch, 48 connections'): their keys one at a
        # time, each endpoint made once (_endpoint), as the column-wise path makes them;
        # that path's two np.unique and object gathers cost ~150 us a batch (issue 7).
        ends: dict[int, Endpoint] = {}
        names = decoded.tunnels
        keys = [(_endpoint(ends, low), _endpoint(ends, high),
                 "" if tunnels is None else names[tunnels[n]])
                for n, (low, high) in enumerate(rows[firsts, :2].tolist())]
    elif rows.shape[1] <= 3:
        # One endpoint tuple per distinct endpoint of the batch, shared by its flows'
        # keys: a server's endpoint is in every one of its connections' keys, and the
        # parked short connections' keys are kept to the capture's end (a tuple and a
        # port number less per key: ~90 bytes per short connection).
        # Made column-wise (the distinct endpoints by np.unique, each distinct address's
        # bytes once, the tuples by C-level zips, put in the flows' order by a gather of
        # an object array), not by a Python step per endpoint nor dicts of them: 200,000
        # short connections have as many client endpoints.
        count = firsts.shape[0]
        values, which_end = np.unique(np.concatenate((rows[firsts, 0], rows[firsts, 1])),
                                      return_inverse=True)
        hosts, which = np.unique(values >> np.uint64(16), return_inverse=True)
        names = np.array([host.to_bytes(4, "big") for host in hosts.tolist()], object)
        # fromiter keeps each tuple as one object (an array made from tuples would nest).
        ends = np.fromiter(zip(repeat(4), names[which.reshape(-1)].tolist(),
                               port_items(values & np.uint64(0xFFFF)), strict=True),
                           object, values.shape[0])[which_end.reshape(-1)]
        lows, highs = ends[:count].tolist(), ends[count:].tolist()
        if tunnels is None:
            keys = list(zip(lows, highs, repeat("")))
        else:
            keys = list(zip(lows, highs, map(decoded.tunnels.__getitem__, tunnels),
                            strict=True))
    else:
        keys = []
        for n, row in enumerate(rows[firsts].tolist()):
            version = row[0]
            keys.append(((version, address_bytes(version, row[1:5]), row[9]),
                         (version, address_bytes(version, row[5:9]), row[10]),
                         decoded.tunnels[tunnels[n]] if tunnels is not None else ""))
    return keys, flow, from_lower


def _few_flows(decoded: DecodedBatch) -> tuple[list[FlowKey], list[int], list[bool]] | None:
    """numbered_flows of a batch of a few IPv4 packets (at most FEW_PACKETS) in Python
    ints: its keys, each packet's flow number and whether it comes from the lower
    endpoint, as lists; None when the batch holds IPv6 (the numpy path's). The same
    endpoints as _canonical's 48-bit numbers (address word << 16 | port, the lower
    first), the same keys and numbering (by first appearance), for no numpy call but
    the columns' tolist (the numpy path's ~45 calls took ~200 us at one packet)."""
    if 6 in decoded.tcp_version.tolist():
        return None
    tunnels = decoded.tunnels
    numbered: dict[tuple[int, int, int], int] = {}
    ends: dict[int, Endpoint] = {}  # one tuple per endpoint, shared by its keys
    keys: list[FlowKey] = []
    numbers, lower = [], []
    for source, sport, target, dport, tunnel in zip(
            decoded.tcp_src[:, 0].tolist(), decoded.tcp_sport.tolist(),
            decoded.tcp_dst[:, 0].tolist(), decoded.tcp_dport.tolist(),
            decoded.tcp_tunnel.tolist(), strict=True):
        src, dst = source << 16 | sport, target << 16 | dport
        low = src <= dst
        row = (src, dst, tunnel) if low else (dst, src, tunnel)
        number = numbered.get(row)
        if number is None:
            number = numbered[row] = len(keys)
            keys.append((_endpoint(ends, row[0]), _endpoint(ends, row[1]),
                         tunnels[tunnel] if tunnel else ""))
        numbers.append(number)
        lower.append(low)
    return keys, numbers, lower


def _endpoint(ends: dict[int, Endpoint], value: int) -> Endpoint:
    """The IPv4 endpoint of a 48-bit number (address << 16 | port), made once per batch;
    its port the process's shared object (port_items)."""
    end = ends.get(value)
    if end is None:
        if not _PORTS:
            port_items(np.zeros(0, np.int64))  # made once for the process
        end = ends[value] = (4, (value >> 16).to_bytes(4, "big"), _PORTS[0][value & 0xFFFF])
    return end
