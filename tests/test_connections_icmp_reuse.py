"""An ICMP reject goes to the attempt it answers, not to a later reuse of its 4-tuple.

Backup Exec's job engine and agent take the first free port of their ranges, so the same
data 4-tuple (media 5002 -> agent 6001) comes back job after job. An ICMP unreachable
quoting the SYN of one job belongs to that job's connection: the one whose SYN it quotes
(the quoted sequence number is that SYN's), else the latest one opened before it in the
capture, as tshark's tcp.stream of the quote gives; never a connection opened after it
(trial 23 D3: the reject of a failed job was counted on the next night's good one, and
the failed job read "data_unanswered ... an ICMP reject the sniffer missed").
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from capture_factory import write_pcap
from stored import failed_errors
from test_connections_util import ACK, FIN, SYN, ethernet, ipv4, read_batches, tcp
from test_tshark_counts import CAPTURES, ROOT
from tshark_tcp import is_icmp, tcp_fields

from flowcheck.connections import ConnectionTracker
from flowcheck.model import Connection
from flowcheck.sources import PacketBatch, iter_batches

M, A = "10.1.0.1", "10.1.0.2"  # the media server, the agent
FOLDER = ROOT / "captures" / "lab-trial23-reuse"


def syn(sport: int, seq: int, dport: int = 6001) -> bytes:
    return ethernet(ipv4(M, A, 6, tcp(sport, dport, seq, 0, SYN)))


def reject(sport: int, seq: int, dport: int = 6001) -> bytes:
    """A's ICMP port unreachable (type 3 code 3) quoting M's SYN (seq), as Linux sends it."""
    quoted = ipv4(M, A, 6, tcp(sport, dport, seq, 0, SYN))
    return ethernet(ipv4(A, M, 1, struct.pack("!BBHI", 3, 3, 0, 0) + quoted))


def job(sport: int, seq: int, dport: int = 6001) -> list[bytes]:
    """A connection that works: handshake and both FINs."""
    return [syn(sport, seq, dport),
            ethernet(ipv4(A, M, 6, tcp(dport, sport, 9000, seq + 1, SYN | ACK))),
            ethernet(ipv4(M, A, 6, tcp(sport, dport, seq + 1, 9001, ACK | FIN))),
            ethernet(ipv4(A, M, 6, tcp(dport, sport, 9001, seq + 2, ACK | FIN)))]


def track(batches: Iterable[PacketBatch], fast: bool) -> list[Connection]:
    tracker = ConnectionTracker(fast=fast)
    for batch in batches:
        tracker.feed(batch)
    return tracker.finish()


def rejects(conns: list[Connection]) -> list[tuple[str, int, int, list[int]]]:
    """(uid, media port, first frame, ICMP frames) of each connection to port 6001."""
    return [(c.uid, c.orig_p, c.first_frame, c.icmp_frames) for c in conns
            if c.resp_p == 6001]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
def test_a_reject_stays_with_its_attempt_when_a_later_job_reuses_the_4_tuple(
        tmp_path: Path, fast: bool, chunk: int) -> None:
    """The trial's capture in small: a refused data SYN, its reject 0.2 ms later, and 600 s
    later the next job on the same 4-tuple; in one batch or split anywhere."""
    frames = [(1.0, syn(5002, 1000)), (1.0002, reject(5002, 1000))]
    frames += [(601.0 + i / 1000, f) for i, f in enumerate(job(5002, 777000))]
    path = write_pcap(tmp_path / "rejected-then-clean.pcap", frames)
    conns = track(read_batches(path, chunk=chunk), fast)
    assert rejects(conns) == [("C1", 5002, 1, [2]), ("C2", 5002, 3, [])]
    assert conns[0].icmp_code == 3 and conns[1].icmp_code is None


@pytest.mark.parametrize("fast", [True, False])
def test_a_refused_callback_keeps_its_reject_when_the_next_callback_reuses_the_4_tuple(
        tmp_path: Path, fast: bool) -> None:
    """The callback (agent 6075 -> job engine 5001: its SYN's sender is the flow key's
    upper endpoint) refused by the media server's ICMP administratively prohibited, the
    next job's callback on the same 4-tuple 600 s later (the trial's
    cbrejected-then-clean.pcap: it read callback_unanswered)."""
    def callback(seq: int, flags: int = SYN, ack: int = 0) -> bytes:
        return ethernet(ipv4(A, M, 6, tcp(6075, 5001, seq, ack, flags)))

    quoted = ipv4(A, M, 6, tcp(6075, 5001, 1000, 0, SYN))
    prohibited = ethernet(ipv4(M, A, 1, struct.pack("!BBHI", 3, 13, 0, 0) + quoted))
    frames = [callback(1000), prohibited, callback(4000),
              ethernet(ipv4(M, A, 6, tcp(5001, 6075, 9000, 4001, SYN | ACK))),
              callback(4001, ACK, 9001)]
    path = write_pcap(tmp_path / "callback.pcap",
                      [(1.0, frames[0]), (1.0002, frames[1])]
                      + [(601.0 + i / 1000, f) for i, f in enumerate(frames[2:])])
    conns = track(iter_batches([str(path)]), fast)
    assert [(c.uid, c.orig_p, c.first_frame, c.icmp_frames, c.icmp_code) for c in conns] == [
        ("C1", 6075, 1, [2], 13), ("C2", 6075, 3, [], None)]


@pytest.mark.parametrize("fast", [True, False])
def test_the_quoted_sequence_number_names_the_attempt(tmp_path: Path, fast: bool) -> None:
    """A second attempt from the same port (a new SYN, new sequence number) before the
    first one's reject arrived: the reject quotes the first SYN, so it is the first one's,
    though the second opened more recently."""
    frames = [syn(5002, 1000), syn(5002, 2000), reject(5002, 1000), reject(5002, 2000)]
    path = write_pcap(tmp_path / "two-attempts.pcap",
                      [(1.0 + i / 1000, f) for i, f in enumerate(frames)])
    conns = track(iter_batches([str(path)]), fast)
    assert rejects(conns) == [("C1", 5002, 1, [3]), ("C2", 5002, 2, [4])]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_a_quoted_sequence_number_hours_old_names_no_attempt(
        tmp_path: Path, fast: bool, chunk: int) -> None:
    """Re-check of trials 22-24, N2: a refused SYN and its reject, and 2 h later a new SYN
    on the same 4-tuple rejected 0.2 ms later by a reject quoting the first SYN's sequence
    number (a capture whose TCP sequence numbers were rewritten, not its quotes; a
    firewall randomising sequence numbers does the same): a reject comes within the SYN's
    retries, so the second reject is the second attempt's, as tshark's tcp.stream gives."""
    frames = [(1.0, syn(5002, 1000)), (1.0002, reject(5002, 1000)),
              (7201.0, syn(5002, 5000)), (7201.0002, reject(5002, 1000))]
    path = write_pcap(tmp_path / "stale-quote.pcap", frames)
    conns = track(read_batches(path, chunk=chunk), fast)
    assert rejects(conns) == [("C1", 5002, 1, [2]), ("C2", 5002, 3, [4])]


@pytest.mark.parametrize("fast", [True, False])
def test_a_quote_before_every_connection_of_its_4_tuple(tmp_path: Path, fast: bool) -> None:
    """Files merged out of order: quotes before both connections of their 4-tuple. The
    one whose sequence number is the second's SYN's is the second's; one of a SYN neither
    sent is an attempt of its own the capture lacks (uids stay in frame order)."""
    frames = [reject(5002, 2000), reject(5002, 3000), syn(5002, 1000), syn(5002, 2000)]
    path = write_pcap(tmp_path / "out-of-order.pcap",
                      [(1.0 + i / 1000, f) for i, f in enumerate(frames)])
    conns = track(iter_batches([str(path)]), fast)
    assert rejects(conns) == [("C1", 5002, 2, [2]), ("C2", 5002, 3, []),
                              ("C3", 5002, 4, [1])]
    assert [c.orig_pkts for c in conns] == [0, 1, 1]


def agent_side(packets: list[bytes]) -> list[bytes]:
    """What a capture of one direction (tcpdump -Q in on the media server) keeps of a
    connection: the agent's packets."""
    return [p for p in packets if p[26:30] == bytes(map(int, A.split(".")))]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_one_direction_a_refused_attempt_and_the_next_job_on_its_4_tuple(
        tmp_path: Path, fast: bool, chunk: int) -> None:
    """A capture of the agent's packets only: the refused job's SYN is not in it, its
    reject is; the next job (600 s later, same 4-tuple) shows by its SYN-ACK, which
    acknowledges another SYN. The reject is an attempt of its own (a connection of zero
    packets, docs/json.md), not the next job's; it stays so whatever the batches."""
    frames = [(1.0002, reject(5002, 1000))]
    frames += [(601.0 + i / 1000, f) for i, f in enumerate(agent_side(job(5002, 777000)))]
    path = write_pcap(tmp_path / "one-direction.pcap", frames)
    conns = track(read_batches(path, chunk=chunk), fast)
    assert rejects(conns) == [("C1", 5002, 1, [1]), ("C2", 5002, 2, [])]
    assert (conns[0].orig_pkts, conns[0].conn_state, conns[1].resp_pkts) == (0, "S0", 2)


@pytest.mark.parametrize("fast", [True, False])
def test_one_direction_two_refused_jobs_on_one_4_tuple(tmp_path: Path, fast: bool) -> None:
    """Two refused jobs 600 s apart on the same 4-tuple, only their rejects captured: two
    attempts (their SYNs' sequence numbers differ), the first with its SYN's retry."""
    frames = [(1.0, reject(5002, 1000)), (2.0, reject(5002, 1000)),
              (601.0, reject(5002, 5000))]
    path = write_pcap(tmp_path / "two-refused.pcap", frames)
    conns = track(iter_batches([str(path)]), fast)
    assert rejects(conns) == [("C1", 5002, 1, [1, 2]), ("C2", 5002, 3, [3])]
    assert [c.syn_retries for c in conns] == [1, 0]


@pytest.mark.parametrize("fast", [True, False])
def test_an_attempt_of_its_own_numbered_in_frame_order_beside_short_connections(
        tmp_path: Path, fast: bool) -> None:
    """The reject of a SYN the capture lacks, then many short connections (the fast path
    takes them in bulk, flowcheck.connections.short) among which the next job on its
    4-tuple, in one batch: the reject's own connection is C1, uids in frame order."""
    frames = [reject(5002, 1000)] + job(5002, 777000)
    for n in range(300):
        frames += job(20000 + n, 100, dport=80)
    path = write_pcap(tmp_path / "own-attempt.pcap",
                      [(1.0 + i / 100000, f) for i, f in enumerate(frames)])
    conns = track(iter_batches([str(path)]), fast)
    assert rejects(conns) == [("C1", 5002, 1, [1]), ("C2", 5002, 2, [])]
    assert [c.uid for c in conns] == [f"C{n}" for n in range(1, 303)]
    assert [c.first_frame for c in conns] == sorted(c.first_frame for c in conns)


@pytest.mark.parametrize("fast", [True, False])
def test_a_reject_in_the_batch_of_a_reuse_taken_in_bulk(tmp_path: Path, fast: bool) -> None:
    """The refused SYN ends one batch, its reject opens the next, in which many short
    connections (the fast path takes them in bulk, flowcheck.connections.short) include
    the next job on the same 4-tuple: the reject stays with the refused attempt."""
    first = [syn(5002, 1000)]
    for n in range(300):
        first += job(20000 + n, 100, dport=80)
    second = [reject(5002, 1000)] + job(5002, 777000)
    for n in range(299):
        second += job(20000 + n, 500, dport=80)
    frames = [(1.0 + i / 100000, f) for i, f in enumerate(first)]
    frames += [(601.0 + i / 100000, f) for i, f in enumerate(second)]
    assert len(first) == len(second) == 1201
    path = write_pcap(tmp_path / "bulk.pcap", frames)
    conns = track(read_batches(path, chunk=1201), fast)
    assert rejects(conns) == [("C1", 5002, 1, [1202]), ("C302", 5002, 1203, [])]


def tshark_quote_streams(path: Path) -> tuple[list[int], dict[int, int]]:
    """tshark's streams with packets of their own, in order of their first own packet
    (as connections are numbered), and each ICMP error quoting TCP: its frame -> the
    tcp.stream tshark gives the quote."""
    out = tcp_fields(path, ["tcp.stream", "frame.protocols"])
    own: dict[int, None] = {}
    quotes: dict[int, int] = {}
    for frame, line in enumerate(out.splitlines(), start=1):
        stream, protocols = line.split("\t")
        if not stream:
            continue
        if is_icmp(protocols):  # an ICMP error quoting a SYN
            quotes[frame] = int(stream.split(",")[-1])
        else:
            own.setdefault(int(stream))
    return list(own), quotes


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_stored_captures_attach_each_quote_to_the_stream_tshark_gives_it(path: Path) -> None:
    """Every ICMP error quoting TCP in the stored captures counts on the connection
    tshark's tcp.stream puts the quote in (streams and connections with packets pair up
    in order: tests/test_tshark_counts.py), or, its stream holding no packet of its own,
    on a connection known only from quotes. Where tshark differs: a quote before every
    connection of its 4-tuple goes into the stream of the first one after it (tshark
    reads no sequence number in a quote), though that one sent another SYN; it is an
    attempt of its own (a one-direction capture that lacks the refused SYN)."""
    own, quotes = tshark_quote_streams(path)
    if not quotes:
        return
    conns = track(iter_batches([str(path)]), fast=True)
    captured = [c for c in conns if c.orig_pkts or c.resp_pkts]
    assert len(captured) == len(own)
    by_stream = dict(zip(own, captured, strict=True))
    # An ICMPv6 packet too big counts on the connection it quotes too, apart from its
    # unreachables (Connection.too_big_frames: trial 28 D5), and so does a time exceeded
    # (Connection.ttl_exceeded_frames: review54h's routing loop, each SYN's TTL ran out).
    holder = {frame: c for c in conns
              for frame in (*c.icmp_frames, *c.too_big_frames, *c.ttl_exceeded_frames)}
    for frame, stream in quotes.items():
        conn = by_stream.get(stream)
        if conn is None:  # a stream of quotes only: a quoted attempt, or nothing
            assert frame not in holder or not (holder[frame].orig_pkts
                                                or holder[frame].resp_pkts), frame
        elif conn.first_frame > frame and frame in holder:
            assert not (holder[frame].orig_pkts or holder[frame].resp_pkts), frame
        elif len(conn.icmp_frames) < 8 and len(conn.too_big_frames) < 8 \
                and len(conn.ttl_exceeded_frames) < 8:
            assert holder.get(frame) is conn or _capture_copy(path, frame, conn), (
                frame, stream, conn.uid)


def _capture_copy(path: Path, frame: int, conn: Connection) -> bool:
    """Whether the ICMP error at `frame` is a capture copy of one conn holds: its bytes
    from the IP header on those of a held frame at most 0.5 ms before it (two hosts'
    `tcpdump -i any` merged hold each reject twice, the sender's and the receiver's copy;
    the tracker counts the copy in capture_duplicates, on no connection:
    connections.icmp_copies). Asked only of a frame no connection holds (tshark once)."""
    held = [f for f in conn.icmp_frames if f < frame]
    if not held:
        return False
    wanted = [*held, frame]
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", " or ".join(f"frame.number == {f}" for f in wanted),
         "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch", "-e", "ip.src",
         "-e", "ipv6.src", "-e", "icmp.checksum", "-e", "icmpv6.checksum", "-e", "ip.ttl",
         "-e", "ipv6.hlim", "-e", "tcp.seq_raw"],
        capture_output=True, text=True, check=True).stdout
    rows = {int(r[0]): (float(r[1]), r[2:]) for r in
            (line.split("\t") for line in out.splitlines())}
    ts, fields = rows[frame]
    return any(rows[f][1] == fields and 0 <= ts - rows[f][0] <= 0.0005 for f in held)


def test_the_refused_job_reads_refused_when_the_next_job_reuses_its_4_tuple() -> None:
    """The trial's capture (captures/lab-trial23-reuse, README): the refused job's data
    connection is refused by the ICMP port unreachable that quotes its SYN (frame 23); the
    next job's connection on the same 4-tuple, 600 s later, got none."""
    [error] = failed_errors(FOLDER / "rejected-then-clean.toml",
                            FOLDER / "rejected-then-clean.pcap")
    assert (error.code, error.session, error.uid) == ("data_refused", "S1", "C3")
    assert "ICMP port unreachable (code 3)" in error.message, error.message
    conns = track(iter_batches([str(FOLDER / "rejected-then-clean.pcap")]), fast=True)
    assert rejects(conns) == [("C3", 5002, 22, [23]), ("C6", 5002, 52, [])]


def agent_side_capture(source: Path, path: Path) -> Path:
    """The agent's packets of a stored pcap of 10.77.0.x hosts (Ethernet, IPv4), as
    `tcpdump -Q in` on the media server 10.77.0.1 would have kept them."""
    data = source.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"  # little-endian, microseconds
    frames, pos = [], 24
    while pos + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, pos)
        frame = data[pos + 16:pos + 16 + caplen]
        if frame[26:30] == bytes([10, 77, 0, 2]):
            frames.append((sec + usec / 1e6, frame))
        pos += 16 + caplen
    return write_pcap(path, frames)


def test_one_direction_the_refused_job_reads_refused_and_the_next_job_ok(
        tmp_path: Path) -> None:
    """The trial's capture, the agent's packets only: the refused SYN is not in it, its
    reject is (frame 12); the next job on the same 4-tuple answered another SYN (its
    SYN-ACK, frame 28). The reject makes a connection of its own (C3), refused; the next
    job is ok (it read S1 ok, and S2 unknown with the reject on its data connection)."""
    path = agent_side_capture(FOLDER / "rejected-then-clean.pcap",
                              tmp_path / "rejected-then-clean-agent-side.pcap")
    [error] = failed_errors(FOLDER / "rejected-then-clean.toml", path)
    assert (error.code, error.session, error.uid) == ("data_refused", "S1", "C3")
    conns = track(iter_batches([str(path)]), fast=True)
    assert rejects(conns) == [("C3", 5002, 12, [12]), ("C6", 5002, 28, [])]
    assert conns[2].orig_pkts + conns[2].resp_pkts == 0
