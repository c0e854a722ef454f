"""Each side's unique payload bytes (`orig_unique_bytes` / `resp_unique_bytes`, each byte
once by sequence number: tcptrace's "unique bytes sent") and the data step that leads
with them, resends said apart, and says a clean close (new-user trial of session 53: a
1 GB backup's data step read 1,074,635,120 B, tshark's sum with its resends, where the
backup moved 1,073,745,920 B; and said nothing of its data connection's clean close).
Checked against the real tcptrace, on a stored capture with resends (the per-packet and
bulk paths) and on one built here whose connections stay on the short-connection path
or take the per-packet one (a partial overlap, a connection without its handshake)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from capture_factory import tcp_packet, write_pcap
from cli_json import run_json

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
PATHLOSS = CAPTURES / "ndmjob-pathloss"
A, B = "10.9.0.1", "10.9.0.2"


def tcptrace_unique(path: Path) -> dict[tuple[str, int, str, int], tuple[int, int]]:
    """(host a, port a, host b, port b) -> (unique bytes a sent, unique bytes b sent),
    from `tcptrace -l -n`."""
    out = subprocess.run(["tcptrace", "-l", "-n", str(path)], capture_output=True,
                         text=True, check=True).stdout
    found = {}
    for block in re.split(r"^TCP connection \d+:", out, flags=re.M)[1:]:
        hosts = re.findall(r"host \w+:\s+(\S+):(\d+)", block)
        unique = re.search(r"unique bytes sent:\s+(\d+)\s+unique bytes sent:\s+(\d+)", block)
        if len(hosts) == 2 and unique:
            (ha, pa), (hb, pb) = hosts
            found[(ha, int(pa), hb, int(pb))] = (int(unique[1]), int(unique[2]))
    return found


def ours(document: dict) -> dict[tuple[str, int, str, int], tuple[int, int]]:
    return {(c["orig_h"], c["orig_p"], c["resp_h"], c["resp_p"]):
            (c["orig_unique_bytes"], c["resp_unique_bytes"]) for c in document["connections"]}


def test_stored_resends_count_once_as_tcptrace_does(tmp_path: Path) -> None:
    capture = PATHLOSS / "fh-pathloss-media.pcap.gz"
    plain = tmp_path / "fh.pcap"
    plain.write_bytes(subprocess.run(["gzip", "-dc", str(capture)], capture_output=True,
                                     check=True).stdout)
    document = run_json("analyze", "--config", str(PATHLOSS / "fh-pathloss-media.toml"),
                        str(capture), "--format", "json")
    theirs = tcptrace_unique(plain)
    assert ours(document) == theirs
    (data,) = [c for c in document["connections"] if c["role"] == "data"]
    unique = data["orig_unique_bytes"]
    assert data["orig_bytes"] > unique  # tshark's sum keeps its meaning: resends in it
    step = document["sessions"][0]["steps"][3]
    assert step["status"] == "ok"
    assert step["detail"].startswith(f"{unique:,} B agent -> media server (backup) over 1 "
                                     "data connection, each byte once (")
    assert (f"{data['orig_bytes'] - unique:,} B more sent again, in 3 retransmitted segments"
            in step["detail"])
    assert f"{data['orig_bytes']:,} B of TCP payload with them" in step["detail"]
    fins = subprocess.run(["tshark", "-r", str(plain), "-Y",
                           f"tcp.flags.fin == 1 && tcp.port == {data['resp_p']}", "-T",
                           "fields", "-e", "frame.number"], capture_output=True, text=True,
                          check=True).stdout.split()
    assert ("the data connection closed cleanly (a FIN each way (frames "
            f"{', '.join(fins)}), each acknowledged, and every byte)") in step["detail"]


def _connection(sport: int, resent: list[tuple[int, int]], *, handshake: bool = True,
                isn: int = 1000) -> list[bytes]:
    """A's bytes 1..3000 to B in three 1000 B segments, then `resent` (start offset,
    length) again, B's ACKs, a FIN each way; with or without the handshake."""
    body = bytes(1000)
    out: list[bytes] = []

    def tcp(src: str, dst: str, sport_: int, dport: int, flags: str, seq: int, ack: int = 0,
            payload: bytes = b"") -> bytes:
        return tcp_packet(src, dst, sport_, dport, flags, seq & 0xFFFFFFFF,
                          ack & 0xFFFFFFFF, payload)

    if handshake:
        out += [tcp(A, B, sport, 80, "S", isn), tcp(B, A, 80, sport, "SA", 5000,
                                                                  isn + 1),
                tcp(A, B, sport, 80, "A", isn + 1, 5001)]
    for k in range(3):
        out.append(tcp(A, B, sport, 80, "PA", isn + 1 + 1000 * k, 5001, body))
    for start, length in resent:
        out.append(tcp(A, B, sport, 80, "PA", isn + 1 + start, 5001, bytes(length)))
    out += [tcp(B, A, 80, sport, "A", 5001, isn + 3001),
            tcp(A, B, sport, 80, "FA", isn + 3001, 5001),
            tcp(B, A, 80, sport, "FA", 5001, isn + 3002),
            tcp(A, B, sport, 80, "A", isn + 3002, 5002)]
    return out


def test_built_resends_count_once_on_every_path(tmp_path: Path) -> None:
    frames = (_connection(40001, [(0, 1000)])  # a whole resend: the short path
              + _connection(40002, [(500, 1000)])  # a resend across two segments
              + _connection(40003, [(1000, 500), (2000, 1000)], handshake=False)
              + _connection(40004, [(0, 1000)], isn=0xFFFFFC00))  # across the 32-bit wrap
    path = write_pcap(tmp_path / "resends.pcap", [(1.0 + i / 1000, f)
                                                  for i, f in enumerate(frames)])
    document = run_json("connections", str(path), "--format", "json")
    assert ours(document) == tcptrace_unique(path)
    assert {c["orig_p"]: c["orig_unique_bytes"] for c in document["connections"]} == {
        40001: 3000, 40002: 3000, 40003: 3000, 40004: 3000}
    assert {c["orig_p"]: c["orig_bytes"] for c in document["connections"]} == {
        40001: 4000, 40002: 4000, 40003: 4500, 40004: 4000}


def test_resends_and_a_segment_the_sniffer_missed_give_the_whole_transfer(
        tmp_path: Path) -> None:
    """The 1 GB trial's capture held both: the total, each byte once plus the bytes the
    receiver acknowledged that the capture lacks, is what the backup moved (1,073,745,920
    B there). It was left out whenever a segment was resent (tshark's sum counted it
    twice). Here one data segment of the stored capture is removed, as a sniffer loses
    it."""
    plain = tmp_path / "fh.pcap"
    plain.write_bytes(subprocess.run(["gzip", "-dc", str(PATHLOSS / "fh-pathloss-media.pcap.gz")],
                                     capture_output=True, check=True).stdout)
    whole = tcptrace_unique(plain)
    first_data = subprocess.run(
        ["tshark", "-r", str(plain), "-Y", "tcp.srcport == 6280 && tcp.len == 1448 && "
         "!tcp.analysis.retransmission", "-T", "fields", "-e", "frame.number"],
        capture_output=True, text=True, check=True).stdout.split()
    lost = tmp_path / "lost.pcap"
    subprocess.run(["editcap", str(plain), str(lost), first_data[500]], check=True)
    document = run_json("analyze", "--config", str(PATHLOSS / "fh-pathloss-media.toml"),
                        str(lost), "--format", "json")
    assert [f["code"] for f in document["findings"]] == ["capture_loss"]
    moved = whole[("10.77.1.2", 6280, "10.77.0.1", 5379)][0]
    detail = document["sessions"][0]["steps"][3]["detail"]
    assert detail.startswith(f"{moved - 1448:,} B agent -> media server (backup) over 1 data "
                             "connection, each byte once (656 B more sent again")
    assert ("and 1,448 B more that the capture lacks and the media server acknowledged "
            f"(segments the sniffer missed: capture_loss; {moved:,} B in all, each byte "
            "once)") in detail


def test_keepalive_probes_are_said_as_probes(tmp_path: Path) -> None:
    """Three TCP keepalive probes as Windows sends them (the byte below the highest sent
    again, each answered), put into the stored v4 backup's data connection before its
    last segment: 3 B sent again in no retransmitted segment (tshark: 3 "Keep-Alive",
    no retransmission; tcptrace: the same unique bytes). The words said "3 B more sent
    again, a TCP keepalive probe's byte" (review 54b)."""
    from scapy.layers.inet import IP, TCP
    from scapy.utils import rdpcap, wrpcap

    packets = rdpcap(str(CAPTURES / "ndmjob" / "v4-backup.pcap"))
    last = packets[2137]  # frame 2138: the agent's last data segment, with its FIN
    answer = packets[2139]  # frame 2140: the media server's FIN, an ACK of it
    t0, t1 = float(packets[2136].time), float(last.time)
    out = list(packets[:2137])
    for i in range(3):
        probe = last.copy()
        probe[TCP].flags, probe[TCP].seq = "A", last[TCP].seq - 1
        probe[TCP].remove_payload()
        probe[TCP].add_payload(b"\x00")
        ack = answer.copy()
        ack[TCP].flags, ack[TCP].ack = "A", last[TCP].seq
        for k, packet in enumerate((probe, ack)):
            packet[IP].id = (packet[IP].id + 100 + i) & 0xFFFF
            del packet[IP].len, packet[IP].chksum, packet[TCP].chksum
            packet.time = t0 + (t1 - t0) * (2 * i + k + 1) / 8
        out += [probe, ack]
    path = tmp_path / "keepalives.pcap"
    wrpcap(str(path), out + list(packets[2137:]))
    probes = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp.analysis.keep_alive"],
                            capture_output=True, text=True, check=True).stdout
    assert len(probes.splitlines()) == 3
    document = run_json("analyze", "--config", str(CAPTURES / "ndmjob" / "flowcheck.toml"),
                        str(path), "--format", "json")
    assert document["findings"] == []
    assert ours(document) == tcptrace_unique(path)
    (data,) = [c for c in document["connections"] if c["role"] == "data"]
    assert data["orig_bytes"] == data["orig_unique_bytes"] + 3 and data["retransmits"] == 0
    detail = document["sessions"][0]["steps"][3]["detail"]
    assert detail.startswith(
        f"{data['orig_unique_bytes']:,} B agent -> media server (backup) over 1 data "
        "connection, each byte once (3 B more sent again, in no retransmitted segment: TCP "
        "keepalive probes, a byte each, or segments overlapping bytes sent before; "
        f"{data['orig_bytes']:,} B of TCP payload with them)")


def _either_way(found: dict[tuple[str, int, str, int], tuple[int, int]]
                ) -> dict[tuple[str, int, str, int], tuple[int, int]]:
    """tcptrace_unique's or ours' map with each connection keyed by its lower endpoint
    first (tcptrace's host a is the first packet's sender: a capture joined
    mid-stream may start with the responder's)."""
    return {key if key[:2] <= key[2:] else (*key[2:], *key[:2]):
            value if key[:2] <= key[2:] else value[::-1] for key, value in found.items()}


def _mid_stream(sport: int, frames: list[tuple[str, int, int, int]]) -> list[bytes]:
    """(sender "A" or "B", seq, ack, payload bytes) as TCP packets of A:sport <-> B:80."""
    return [tcp_packet(*((A, B, sport, 80) if who == "A" else (B, A, 80, sport)),
                       "PA" if size else "A", seq, ack, bytes(size))
            for who, seq, ack, size in frames]


def test_a_capture_joined_mid_stream_counts_each_byte_captured_once(tmp_path: Path) -> None:
    """A capture joined mid-stream (no SYN): the unique bytes counted from Wireshark's
    base, which is the peer's first ACK - 1 when that came first, counted bytes never
    captured (resends then hidden) and, from the first segment, left out the bytes
    captured below it (said sent again) (review 54b: the stored path-loss capture cut
    from frame 333, its control connection's 65,108 B each captured once read 50,628 B
    unique, 14,480 B "sent again"). Now tcptrace's count on every one."""
    plain = tmp_path / "fh.pcap"
    plain.write_bytes(subprocess.run(["gzip", "-dc", str(PATHLOSS / "fh-pathloss-media.pcap.gz")],
                                     capture_output=True, check=True).stdout)
    cut = tmp_path / "from-333.pcap"
    total = len(subprocess.run(["tshark", "-r", str(plain), "-T", "fields", "-e",
                                "frame.number"], capture_output=True, text=True,
                               check=True).stdout.split())
    subprocess.run(["editcap", "-r", str(plain), str(cut), f"333-{total}"], check=True)
    document = run_json("connections", str(cut), "--format", "json")
    assert _either_way(ours(document)) == _either_way(tcptrace_unique(cut))
    control = [c for c in document["connections"] if c["resp_p"] == 10000]
    assert [(c["resp_bytes"], c["resp_unique_bytes"]) for c in control] == [(65108, 65108)]
    built = (
        # The receiver's ACK first, then a stale segment below it, then new data.
        _mid_stream(40011, [("B", 500, 10000, 0), ("A", 5000, 500, 1000),
                            ("A", 10000, 500, 1000), ("A", 11000, 500, 1000),
                            ("B", 500, 12000, 0)])
        # The receiver's ACK first, 20,000 B in flight never captured, one resend.
        + _mid_stream(40012, [("B", 500, 10000, 0), ("A", 30000, 500, 1000),
                              ("A", 31000, 500, 1000), ("A", 30000, 500, 1000),
                              ("B", 500, 32000, 0)])
        # The first segment captured a reordered one: the one below it comes next.
        + _mid_stream(40013, [("A", 31000, 500, 1000), ("A", 30000, 500, 1000),
                              ("A", 32000, 500, 1000), ("B", 500, 33000, 0)])
        # With its SYN: a keepalive probe's byte before any data, below the SYN's + 1,
        # is none of the data (tcptrace: neither).
        + [tcp_packet(A, B, 40014, 80, "S", 1000), tcp_packet(B, A, 80, 40014, "SA", 500, 1001)]
        + _mid_stream(40014, [("A", 1001, 501, 0), ("A", 1000, 501, 1), ("B", 501, 1001, 0),
                              ("A", 1001, 501, 3000), ("B", 501, 4001, 0)]))
    path = write_pcap(tmp_path / "mid-stream.pcap", [(1.0 + i / 100, f)
                                                     for i, f in enumerate(built)])
    document = run_json("connections", str(path), "--format", "json")
    assert _either_way(ours(document)) == _either_way(tcptrace_unique(path))
    assert {c["orig_p"]: (c["orig_bytes"], c["orig_unique_bytes"])
            for c in document["connections"]} == {
        40011: (3000, 3000), 40012: (3000, 2000), 40013: (3000, 3000), 40014: (3001, 3000)}


def test_step_one_says_each_byte_once_and_the_resends_apart() -> None:
    """A control connection whose agent resent its 60 B greeting 8 times (tcptrace: 60
    unique bytes): step 1 read "540 B agent -> media server", tshark's sum, where step 5
    counts each byte once (field check 71 runs 13 and 21): now the bytes once, the resends
    apart, as step 5 says them."""
    capture = CAPTURES / "lab" / "media-range-ack-dropped.pcap"
    [(_, unique)] = tcptrace_unique(capture).values()
    assert unique == 60
    document = run_json("analyze", str(capture), "--format", "json")
    [conn] = document["connections"]
    assert conn["resp_unique_bytes"] == 60 and conn["resp_bytes"] == 540
    detail = document["sessions"][0]["steps"][0]["detail"]
    assert "540 B agent -> media server" not in detail
    assert ("60 B agent -> media server (each byte once: 480 B more sent again, 540 B of "
            "TCP payload with them)") in detail
