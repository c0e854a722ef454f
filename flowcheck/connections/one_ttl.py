"""Two capture points in one file at one TTL: two hosts of one segment merged.

Two hosts on one segment (no router between: the TTL is the same at both) captured at
once and merged into one file by mergecap (`mergecap -w both.pcap media.pcap
agent.pcap`, whose default merges their identical interface descriptions into one),
with clocks some milliseconds or seconds apart: every packet that passed both hosts is
in the file twice, at the clocks' offset, and nothing in the file tells the two points
apart (not the TTL, not the interface). Left to copies.py's 0.5 ms, the second copy of
each reads as a retransmission and its bytes count twice (trial 3 of session 33: clocks
3 s apart read as `control_stalled`, 2,174 "retransmissions" on the data connection;
20 ms apart, every byte counted twice with nothing said).

Such pairs (equal in copies.py's fields, the same file, the same TTL, more than
points.NEAR apart) are what a sender's bit-identical resend makes too (IPv6 or IPv4 ID 0,
no timestamp option: Windows over IPv6, a retry a retransmission timeout later), so
they count as a second capture point only on evidence that resends cannot give:
- no SYN and no RST among them (a stack's SYN retries come at fixed times: Windows'
  3 s; a firewall's RST in a host's name);
- AGREEING of the latest OFFSET_SAMPLES pairs, and at least half of them, lie within
  OFFSET_TOLERANCE of their median (copies come at one offset; resends at a
  retransmission timeout that grows, or a round trip that varies);
- among those agreeing, both directions of one connection (a capture point on the path
  sees both; a sender resends its own packets, and a receiver's answers to the resends
  are new acknowledgements);
- the pairs are at least one in ONE_TTL_SHARE of the packets compared of the
  connections they are in (the file's sampled packets, point_sample.sampled, or the packets
  of its head, read ahead): a second capture point's copies are half of those
  connections' packets, a sender's resends a small share (a connection that resends a
  quarter of its packets bit for bit is no working one); a host's other traffic,
  captured at its point only, does not count against them.
Then the file's offset is known as a capture point's (OneTtlFiles.files) and its
equal pairs at the same TTL are copies as those of two TTLs are (points.py's rule). A
capture too small to show AGREEING pairs in its sample and head keeps copies.py's 0.5
ms, as before.
"""

from __future__ import annotations

from dataclasses import field

import numpy as np

from flowcheck.arrays import median, one_of
from flowcheck.fields_dataclass import fields_dataclass

ONE_TTL_SHARE = 4  # the pairs: at least one in this many of their connections' packets
CONNECTIONS_KEPT = 1 << 16  # connections whose packets compared are counted, per way
SYN_OR_RST = 0x06  # TCP flags


@fields_dataclass(slots=True)
class OneTtlPairs:
    """One file's pairs of equal packets at one TTL, more than points.NEAR apart, before
    they count as a second capture point's (module docstring): per way of comparing (the
    head, read ahead, whole; the sample, 1 packet in 64), the packets compared and the
    pairs found of each connection (`packets`, `pairs`: way -> connection hash -> count;
    at most CONNECTIONS_KEPT connections each); `totals`: per way, the pairs found and
    the packets compared of the connections they are in (the sums `shared` compares,
    kept as they are counted: summed at each call, they cost each pair the connections
    paired before it, points.py judging a sample's pairs one at a time); `recent`: the
    latest `samples` pairs as (seconds apart, connection hash, sent by the lower
    address)."""

    samples: int
    packets: dict[str, dict[int, int]] = field(default_factory=dict)
    pairs: dict[str, dict[int, int]] = field(default_factory=dict)
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    recent: list[tuple[float, int, bool]] = field(default_factory=list)

    def add(self, way: str, packets: dict[int, int],
            pairs: list[tuple[float, int, bool]]) -> None:
        """Count the packets compared `way` ("head" or "sample"; packets: connection hash
        -> count) and take their pairs (seconds apart, connection hash, sent by the lower
        address; no SYN nor RST among them). The ways are counted apart: the head holds a
        file's first packets whole, the sample one in 64 of all, so a file whose copies
        begin after its head shows them in the sample's share."""
        compared = self.packets.setdefault(way, {})
        found = self.pairs.setdefault(way, {})
        found_pairs, paired = self.totals.get(way, (0, 0))
        if len(compared) >= CONNECTIONS_KEPT:  # full: only those counted already count
            for connection in packets.keys() & compared.keys():
                compared[connection] += packets[connection]
                if connection in found:
                    paired += packets[connection]
        elif (len(compared) + len(packets) <= CONNECTIONS_KEPT
              and compared.keys().isdisjoint(packets)):
            # All new, room for all: added in order (C-level); none is in `found`, which
            # holds compared connections only, so `paired` stays.
            compared.update(packets)
        else:
            for connection, count in packets.items():
                if connection in compared or len(compared) < CONNECTIONS_KEPT:
                    compared[connection] = compared.get(connection, 0) + count
                    if connection in found:
                        paired += count
        for _, connection, _ in pairs:
            if connection in compared:
                if connection not in found:
                    paired += compared[connection]
                found[connection] = found.get(connection, 0) + 1
                found_pairs += 1
        self.totals[way] = (found_pairs, paired)
        self.recent = (self.recent + pairs)[-self.samples:]

    def shared(self, agreeing: int) -> bool:
        """Whether, in one way of comparing, the pairs are at least `agreeing` and at
        least one in ONE_TTL_SHARE of the packets of the connections they are in (a
        second capture point's copies are half of those; a host's other traffic,
        captured at one point only, is not counted against them). Without the floor,
        the sample's first pair, among its connection's first few packets sampled,
        showed the share on its own (review54f's bulktimed1: 1 pair of 4 packets; the
        head had 151 pairs of 4,150 packets, 3.6%)."""
        return any(pairs >= agreeing and pairs * ONE_TTL_SHARE >= packets
                   for pairs, packets in self.totals.values())

    def offset(self, tolerance: float, agreeing: int) -> list[float]:
        """The latest pairs' time differences (seconds) that agree on one offset, when
        they show a second capture point (module docstring); [] while they do not."""
        if len(self.recent) < agreeing or not self.shared(agreeing):
            return []
        diffs = np.array([diff for diff, _, _ in self.recent])
        agree = np.abs(diffs - median(diffs)) <= tolerance
        count = int(np.count_nonzero(agree))
        if count < agreeing or 2 * count < len(self.recent):
            return []
        ways: dict[int, int] = {}
        for (_, connection, lower), ok in zip(self.recent, agree.tolist(), strict=True):
            if ok:
                ways[connection] = ways.get(connection, 0) | (1 << lower)
        return diffs[agree].tolist() if 3 in ways.values() else []


class OneTtlFiles:
    """The files of a capture set shown to hold two capture points at one TTL (`files`)
    and each other file's pairs that may show it (module docstring). samples, tolerance
    (seconds), agreeing, near (seconds): points.py's OFFSET_SAMPLES, OFFSET_TOLERANCE,
    AGREEING and NEAR."""

    def __init__(self, samples: int, tolerance: float, agreeing: int, near: float) -> None:
        self.files: set[int] = set()
        self._pairs: dict[int, OneTtlPairs] = {}
        self._samples, self._tolerance, self._agreeing, self._near = (
            samples, tolerance, agreeing, near)

    def learn(self, way: str, packets: dict[int, dict[int, int]],
              pairs: dict[int, list[tuple[float, int, bool]]]) -> dict[int, list[float]]:
        """Count each file's packets compared `way` (OneTtlPairs.add; packets: file ->
        connection hash -> count) and take its pairs at one TTL (pairs: by file). Returns
        the files whose pairs now show a second capture point, each with the time
        differences (seconds) that agree on its offset; they join `files`."""
        shown: dict[int, list[float]] = {}
        for source, count in packets.items():
            if source in self.files:
                continue
            entry = self._pairs.setdefault(source, OneTtlPairs(self._samples))
            entry.add(way, count, pairs.get(source, []))
            agree = entry.offset(self._tolerance, self._agreeing)
            if agree and abs(median(np.array(agree))) > self._near:
                self.files.add(source)
                shown[source] = agree
        return shown

    def holds(self, source: np.ndarray) -> np.ndarray:
        """Per packet (its file of the set, bool): whether its file is one of `files`."""
        return one_of(source, tuple(sorted(self.files)))
