"""orig_acked_unseen / resp_acked_unseen: the bytes of a side the capture holds no segment
of, told by the other side's ACKs (a capture of one direction: tcpdump -Q out on the
media server holds its ACKs of the agent's backup data, never the data).

Checked against tshark (the ACKing side's highest tcp.ack_raw minus its first, per
stream) on every capture under captures/, on the lab's one-direction captures by
name, and on a generated one-direction capture whose ACK numbers wrap past 2**32 more
than once, through each path of the tracker: the reference (`fast=False`), the bulk
path and the short-connection pass (forced as tests/test_connections_short.py does).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from scapy_bytes import tcp_frame, write_frames
from test_connections_util import read_batches
from test_tshark_counts import CAPTURES, ROOT, shared_track, track  # shared_track: read only
from tshark_tcp import own_rows

from flowcheck.connections import ConnectionTracker, short_flows
from flowcheck.model import Connection

LAB = ROOT / "captures" / "lab"
M, A = "10.77.0.1", "10.77.0.2"
Side = tuple[str, int]


def signed32(value: int) -> int:
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def tshark_acked_unseen(path: Path) -> list[dict[Side, int]]:
    """Per tcp.stream, in order: {side: bytes its peer ACKed} for each side that sent
    nothing taking a sequence number (no SYN, FIN or payload): the peer's highest ACK
    minus its first, unwrapped by signed 32-bit steps."""
    rows = own_rows(path, ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst",
                           "ipv6.dst", "tcp.dstport", "tcp.flags", "tcp.len", "tcp.ack_raw"])
    seen: dict[int, set[Side]] = defaultdict(set)
    acks: dict[int, dict[Side, list[int]]] = defaultdict(lambda: defaultdict(list))
    for stream, src4, src6, sport, dst4, dst6, dport, flags, length, ack in rows:
        if not stream or "," in src4 or "," in sport:
            continue  # not TCP, or ICMP quoting TCP
        n, bits = int(stream), int(flags, 16)
        src, dst = (src4 or src6, int(sport)), (dst4 or dst6, int(dport))
        if bits & 0x03 or int(length or 0):  # SYN, FIN or payload: the sender is seen
            seen[n].add(src)
        if bits & 0x10:
            acks[n][dst].append(int(ack))
    result = []
    for n in sorted(set(seen) | set(acks)):
        unseen = {}
        for side, numbers in acks[n].items():
            if side in seen[n]:
                continue
            now = top = numbers[0]
            for number in numbers[1:]:
                now += signed32(number - now)
                top = max(top, now)
            unseen[side] = top - numbers[0]
        result.append(unseen)
    return result


def ours(connections: list[Connection], field: str = "acked_unseen"
         ) -> list[dict[Side, int]]:
    """Per connection, its sides' nonzero orig_FIELD / resp_FIELD by (address, port). A
    connection known only from ICMP quotes of its SYN holds no packet: tshark has no
    stream for it (as test_tshark_counts.assert_matches_tshark)."""
    return [{side: value for side, value in (
        ((c.orig_h, c.orig_p), getattr(c, f"orig_{field}")),
        ((c.resp_h, c.resp_p), getattr(c, f"resp_{field}"))) if value} for c in connections
        if c.orig_pkts or c.resp_pkts]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_acked_unseen_equals_tshark(path: Path) -> None:
    expected = [{side: value for side, value in stream.items() if value}
                for stream in tshark_acked_unseen(path)]
    assert ours(shared_track(path, True)) == expected
    assert ours(shared_track(path, False)) == expected


def by_port(path: Path, fast: bool = True) -> dict[int, Connection]:
    """The capture's connections by the port of M's side (unique in the lab captures)."""
    return {c.orig_p if c.orig_h == M else c.resp_p: c for c in track(path, fast)}


@pytest.mark.parametrize("fast", [True, False])
def test_one_direction_out_tells_the_backup_data_by_the_media_servers_acks(fast: bool) -> None:
    """Only what M sends: the agent's 200,000 bytes of backup data on each data
    connection are ACKed by M (and its FIN: one more); M's own side is seen."""
    conns = by_port(LAB / "one-direction-out.pcap", fast)
    for port in (5002, 5003):
        c = conns[port]
        assert (c.history, c.resp_pkts, c.resp_bytes, c.missed_bytes) == ("SAF", 0, 0, 0)
        assert (c.orig_acked_unseen, c.resp_acked_unseen) == (0, 200_001)
    # The control connection: the agent's replies (768 bytes) and FIN.
    assert (conns[5033].orig_acked_unseen, conns[5033].resp_acked_unseen) == (0, 769)


@pytest.mark.parametrize("fast", [True, False])
def test_one_direction_in_tells_ms_requests_by_the_agents_acks(fast: bool) -> None:
    """Only what M receives: the mirror. M's NDMP requests (528 bytes) and FIN on the
    control connection; on the data connections M sent nothing but its FIN."""
    conns = by_port(LAB / "one-direction-in.pcap", fast)
    control = conns[5041]
    assert (control.orig_bytes, control.resp_bytes) == (0, 768)
    assert (control.orig_acked_unseen, control.resp_acked_unseen) == (529, 0)
    for port in (5002, 5003):
        c = conns[port]
        assert c.resp_bytes >= 200_000 and c.missed_bytes == 0
        assert (c.orig_acked_unseen, c.resp_acked_unseen) == (1, 0)


@pytest.mark.parametrize("name", ["clean-3-resources.pcap", "concurrent-jobs.pcap",
                                  "restore-2-resources.pcap"])
def test_both_directions_captured_give_nothing_unseen(name: str) -> None:
    connections = track(LAB / name)
    assert connections and all(c.orig_pkts and c.resp_pkts for c in connections)
    assert all((c.orig_acked_unseen, c.resp_acked_unseen) == (0, 0) for c in connections)


def test_not_in_the_json_nor_in_missed_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    from flowcheck.cli.main import run as cli

    path = LAB / "one-direction-out.pcap"
    assert sum(c.resp_acked_unseen for c in track(path)) > 400_000
    assert cli(["connections", str(path), "--format", "json"]) == 0  # in this process
    out = capsys.readouterr().out
    connections = json.loads(out)["connections"]
    assert len(connections) == 4 and all(c["missed_bytes"] == 0 for c in connections)
    assert not any("acked_unseen" in key for c in connections for key in c)


# -- ACK numbers that wrap: gigabytes the capture never saw ----------------------------

# 64 KB, then 8 MB per ACK: about 5.5 GB in 716 packets. It was 2 MB per ACK (2,700
# packets, in batches of 20 for the short pass: most of this test's time): 8 MB, the
# packets 4 ms apart (the same 2.9 s), walks the same branches of flowcheck (branch
# coverage of this test, session 52), the unwrapping's signed 32-bit steps far from both.
STEPS = [1 << 16] * 40 + [8 << 20] * 660
FIRST_ACK = 0xFFFFF000


def wrapping_capture(path: Path, acker: str) -> tuple[Path, int]:
    """One connection M:5002 -> A:6001 of which the capture holds only `acker`'s packets
    ("orig": M's SYN and its ACKs; "resp": A's SYN-ACK and its ACKs), the ACK numbers
    from FIRST_ACK up by STEPS (wrapping past 2**32), a duplicate and a late (lower)
    ACK now and then, a FIN|ACK that ACKs the peer's FIN last. Returns the path and
    the bytes ACKed (the FIN's one included). The frames scapy's Ether()/IP()/TCP()
    write (scapy_bytes)."""
    src, dst, sport, dport = (M, A, 5002, 6001) if acker == "orig" else (A, M, 6001, 5002)
    seq = 1_000 if acker == "orig" else 7_000

    def segment(flags: str, ack: int, seq_now: int = seq + 1) -> bytes:
        return tcp_frame(src, dst, sport, dport, flags, seq_now, ack & 0xFFFFFFFF)

    # The handshake's part the capture holds: M's SYN and ACK, or A's SYN-ACK.
    packets = ([segment("S", 0, seq), segment("A", FIRST_ACK)] if acker == "orig"
               else [segment("SA", FIRST_ACK, seq)])
    ack = FIRST_ACK
    previous = ack
    for n, step in enumerate(STEPS):
        previous, ack = ack, ack + step
        packets.append(segment("A", ack))
        if n % 97 == 5:
            packets.append(segment("A", ack))  # a duplicate ACK
        if n % 211 == 7:
            packets.append(segment("A", previous))  # a late one, lower than the last
    packets.append(segment("FA", ack + 1))
    # 4 ms apart: 2.9 s, as 2 MB steps 1 ms apart were (openings and flows are kept by
    # time: icmp_cut.WINDOW, replays' gaps of REPLAY_STEP, both 1 s)
    write_frames(path, packets, [1_700_000_000 + k * 0.004 for k in range(len(packets))])
    return path, ack + 1 - FIRST_ACK


def run(path: Path, chunk: int, fast: bool) -> tuple[list[Connection], int]:
    tracker = ConnectionTracker(fast=fast)
    for batch in read_batches(path, chunk=chunk):
        tracker.feed(batch)
    return tracker.finish(), tracker.one_at_a_time


@pytest.fixture
def short_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """The short-connection pass in every batch with a flow for it (small batches keep
    the connection in it, parked between batches)."""
    monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
    monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)


@pytest.mark.parametrize("acker", ["orig", "resp"])
def test_acks_wrapping_past_2_32_add_up_on_every_path(tmp_path: Path, acker: str,
                                                      short_everywhere: None) -> None:
    path, total = wrapping_capture(tmp_path / "wrap.pcap", acker)
    assert total > 5 << 30
    assert tshark_acked_unseen(path) == [{(M, 5002) if acker == "resp" else (A, 6001): total}]
    reference, _ = run(path, 100_000, fast=False)
    (c,) = reference
    expected = (total, 0) if acker == "resp" else (0, total)
    assert (c.orig_acked_unseen, c.resp_acked_unseen) == expected
    assert (c.missed_bytes, c.orig_bytes + c.resp_bytes) == (0, 0)
    packets = c.orig_pkts + c.resp_pkts
    # Short pass: batches of at most its MAX_PACKETS per flow; nothing one at a time.
    short, one_at_a_time = run(path, 20, fast=True)
    assert (short, one_at_a_time) == (reference, 0)
    # Bulk path: large batches (four, the last one not a few packets, which go one at a
    # time; and one); one at a time only the SYN (or SYN-ACK) and the FIN and the few
    # packets around them.
    for chunk in (180, 100_000):
        bulk, one_at_a_time = run(path, chunk, fast=True)
        assert bulk == reference
        assert one_at_a_time < packets // 50


@pytest.mark.parametrize(("last_step", "acker_fin", "fin_or_byte"), [
    (1, False, True),  # seed 108 run 18: the capture ended before the acker's FIN
    (1, True, True),  # the acker's FIN too: the other side's FIN proved (fin_unseen)
    (2, False, False),  # two bytes: data, no FIN
])
def test_a_last_ack_one_more_is_told_on_every_path(
        tmp_path: Path, short_everywhere: None, last_step: int, acker_fin: bool,
        fin_or_byte: bool) -> None:
    """M's packets alone (its SYN, its ACKs of A's data), the last ACK `last_step` past
    the one before, then M's FIN|ACK or nothing: resp_fin_or_byte (A's FIN or a lone
    last byte) when that step is one, whether or not M's FIN is captured; A's FIN proved
    (resp_fin_unseen) only with it. The same on the reference, short and bulk paths."""
    def segment(flags: str, seq: int, ack: int) -> bytes:
        return tcp_frame(M, A, 5002, 6001, flags, seq, ack)

    acks = [7_001 + 1_448 * k for k in range(1, 30)]
    packets = [segment("S", 1_000, 0), *(segment("A", 1_001, ack) for ack in
                                         [7_001, *acks, acks[-1] + last_step])]
    if acker_fin:
        packets.append(segment("FA", 1_001, acks[-1] + last_step))
    path = tmp_path / "one-more.pcap"
    write_frames(path, packets, [1_700_000_000 + k * 0.001 for k in range(len(packets))])
    (reference,), _ = run(path, 100_000, fast=False)
    assert (reference.orig_fin_or_byte, reference.resp_fin_or_byte) == (False, fin_or_byte)
    assert reference.resp_fin_unseen == (fin_or_byte and acker_fin)
    for chunk in (1, 5, 20, 100_000):
        connections, _ = run(path, chunk, fast=True)
        assert connections == [reference], chunk
        assert connections[0].resp_fin_or_byte == fin_or_byte, chunk
