"""A batch whose packets are all plain Ethernet/IPv4/TCP is decoded from its columns
taken whole, not gathered by an index of every row (issue 7): the decode equals the
one of the same packets decoded among others (by their rows), column for column, and
none of its columns is the batch's own array (the tracker may keep or change them)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
from test_connections_util import ACK, PSH, SYN, ethernet, ipv4, read_batches, tcp, write_pcap

from flowcheck.connections.packet_identity import captured_ends
from flowcheck.decode import TCP, decode_batch
from flowcheck.sources.batch import LINKTYPE_ETHERNET

A, B = "10.1.0.1", "10.1.0.2"


def _plain_packets() -> list[bytes]:
    return [ethernet(ipv4(A, B, 6, tcp(5001, 10000, 100, 0, SYN))),
            ethernet(ipv4(B, A, 6, tcp(10000, 5001, 900, 101, SYN | ACK))),
            ethernet(ipv4(A, B, 6, tcp(5001, 10000, 101, 901, PSH | ACK, b"x" * 100))),
            ethernet(ipv4(B, A, 6, tcp(10000, 5001, 901, 201, ACK)))]


def _batch(tmp_path: Path, name: str, packets: list[bytes]):
    # The last packet 4 ms after the start, the others 1 ms apart before it: the plain
    # packets have the same times alone and after another.
    times = [0.001 * (4 - len(packets) + n) for n in range(len(packets))]
    path = write_pcap(tmp_path / name, LINKTYPE_ETHERNET, packets, times=times)
    (batch,) = read_batches(path, chunk=100)
    return batch


def _tcp_columns(decoded) -> dict[str, np.ndarray]:
    return {f.name: getattr(decoded, f.name) for f in fields(decoded)
            if f.name.startswith("tcp_") and isinstance(getattr(decoded, f.name), np.ndarray)}


def test_a_whole_plain_batch_decodes_as_its_rows_among_others(tmp_path: Path) -> None:
    plain = _plain_packets()
    # The same packets with an ARP packet before them: the plain ones decoded by rows.
    arp = ethernet(b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\x00" * 20, ethertype=0x0806)
    whole = _batch(tmp_path, "whole.pcap", plain)
    mixed = _batch(tmp_path, "mixed.pcap", [arp, *plain])
    alone, among = decode_batch(whole), decode_batch(mixed)
    assert (alone.kind == TCP).all() and alone.tcp_index.tolist() == [0, 1, 2, 3]
    assert among.tcp_index.tolist() == [1, 2, 3, 4]
    mine, theirs = _tcp_columns(alone), _tcp_columns(among)
    assert mine.keys() == theirs.keys()
    for name, column in mine.items():
        if name in ("tcp_index", "tcp_frame", "tcp_payload_off"):  # one packet later
            continue
        assert column.dtype == theirs[name].dtype, name
        assert np.array_equal(column, theirs[name]), name
    assert np.array_equal(alone.tcp_frame + 1, among.tcp_frame)
    assert np.array_equal(alone.tcp_payload_off - whole.data_off,
                          among.tcp_payload_off - mixed.data_off[1:])
    for column in mine.values():
        for array in (whole.ts, whole.data_off, whole.caplen, whole.wirelen):
            assert not np.shares_memory(column, array)


def test_captured_ends_of_a_batch_all_tcp_and_of_one_with_others(tmp_path: Path) -> None:
    plain = _plain_packets()
    arp = ethernet(b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\x00" * 20, ethertype=0x0806)
    for name, packets, rows in (("whole.pcap", plain, [0, 1, 2, 3]),
                                ("mixed.pcap", [plain[0], arp, *plain[1:]], [0, 2, 3, 4])):
        batch = _batch(tmp_path, name, packets)
        decoded = decode_batch(batch)
        assert decoded.tcp_index.tolist() == rows
        ends = captured_ends(batch, decoded)
        assert ends.dtype == np.int64
        assert ends.tolist() == [int(batch.data_off[r]) + int(batch.caplen[r]) for r in rows]
