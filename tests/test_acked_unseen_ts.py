"""Connection.orig/resp_acked_unseen_ts: when the peer's ACKs first acknowledged more of
a side the capture holds nothing of than a closing FIN takes (Endpoint.unseen_moved_ts),
the same on every path of the tracker, and what flowcheck.verify.gave_up reads of it.

Field check 76 seed 139 run 17 (`tcpdump -Q in` on the agent: the media server's
packets only) with the media server's FINs on its three data connections moved after
its CONNECT_CLOSE, as when it ends them once the session is closed: their data moved
before the close (tshark: its ACKs of 200,000 B each), yet the lone SYN's finding said
the session closed "with no data moved", `_data_before` reading only whether the peer's
every packet came before the close.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from scapy_bytes import tcp_frame, write_frames
from stored import sidecar
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)
from test_tshark_counts import ROOT

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

M, A = "10.77.0.1", "10.77.0.2"
RUN_17 = ROOT / "captures" / "field76-matrix" / "routed-data-port-in-use-agent-sll2-dir-in.pcap.gz"
FINS = (90, 171, 252)  # the media server's FIN|ACKs on C4, C5, C6
CLOSE = 256  # its CONNECT_CLOSE


def tshark_rows(path: Path, fields: list[str]) -> list[list[str]]:
    """tshark's `fields` of each TCP frame of path (-T fields), one list a frame."""
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp", "-T", "fields",
                          *(arg for name in fields for arg in ("-e", name))],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def tshark_moved_ts(path: Path, side: tuple[str, int]) -> float | None:
    """The time of the first ACK to `side` (address, port) more than one past the first
    ACK to it (tcp.ack_raw, unwrapped by signed 32-bit steps; absolute seconds)."""
    first = now = None
    for dst, dport, flags, ack, when in tshark_rows(path, [
            "ip.dst", "tcp.dstport", "tcp.flags", "tcp.ack_raw", "frame.time_epoch"]):
        if (dst, int(dport)) != side or not int(flags, 16) & 0x10:
            continue
        raw = int(ack)
        now = raw if now is None else now + (((raw - now + 0x80000000) & 0xFFFFFFFF)
                                             - 0x80000000)
        first = raw if first is None else first
        if now - first > 1:
            return float(when)
    return None


@pytest.mark.parametrize("acker", ["orig", "resp"])
def test_the_first_ack_past_a_fin_is_kept_on_every_path(
        tmp_path: Path, short_everywhere: None, acker: str) -> None:  # noqa: F811
    """One side's packets only: its ACKs of the other side one past the first (a FIN's
    step, twice acknowledged: no data yet), then 1,448 B at a time. The time of the
    first ACK two past the first (frame 5 of the orig acker's, 4 of the resp acker's) is
    tshark's and is the same through the reference, the short pass (batches of 1, 5 and
    20) and the bulk path."""
    src, dst, sport, dport = (M, A, 5002, 6001) if acker == "orig" else (A, M, 6001, 5002)

    def segment(flags: str, seq: int, ack: int) -> bytes:
        return tcp_frame(src, dst, sport, dport, flags, seq, ack)

    acks = [7_001, 7_002, 7_002, *(7_002 + 1_448 * k for k in range(1, 40))]
    opening = [segment("S", 1_000, 0)] if acker == "orig" else [segment("SA", 1_000, 7_001)]
    packets = opening + [segment("A", 1_001, ack) for ack in acks]
    times = [1_700_000_000 + k * 0.001 for k in range(len(packets))]
    path = write_frames(tmp_path / "moved.pcap", packets, times)
    unseen = (A, 6001) if acker == "orig" else (M, 5002)
    expected = tshark_moved_ts(path, unseen)
    assert expected == pytest.approx(times[len(opening) + 3], abs=1e-6)
    (reference,), _ = run(path, 100_000, fast=False)
    moved = (reference.resp_acked_unseen_ts if acker == "orig"
             else reference.orig_acked_unseen_ts)
    assert moved == pytest.approx(expected, abs=1e-6)
    assert (reference.orig_acked_unseen_ts if acker == "orig"
            else reference.resp_acked_unseen_ts) is None
    for chunk in (1, 5, 20, 100_000):
        connections, _ = run(path, chunk, fast=True)
        assert connections == [reference], chunk
        assert (connections[0].resp_acked_unseen_ts, connections[0].orig_acked_unseen_ts) == (
            reference.resp_acked_unseen_ts, reference.orig_acked_unseen_ts), chunk


def test_no_time_for_a_fin_alone(tmp_path: Path) -> None:
    """ACKs one past the first only (the other side's FIN): nothing moved, no time."""
    packets = [tcp_frame(M, A, 5002, 6001, flags, seq, ack) for flags, seq, ack in
               [("S", 1_000, 0), ("A", 1_001, 7_001), ("A", 1_001, 7_002),
                ("FA", 1_001, 7_002)]]
    path = tmp_path / "fin.pcap"
    write_frames(path, packets, [1_700_000_000 + k * 0.001 for k in range(4)])
    for fast in (False, True):
        (c,), _ = run(path, 100_000, fast=fast)
        assert (c.resp_acked_unseen, c.resp_acked_unseen_ts) == (1, None)


def fins_after_close(tmp_path: Path) -> Path:
    """RUN_17 with the media server's FINs on C4-C6 moved after its CONNECT_CLOSE, 50,
    60 and 70 us after it (frames 254-256 of the new file; the close frame 253)."""
    linktype, records = read_records(RUN_17)
    close = records[CLOSE - 1].micros
    moved = [replace(records[f - 1], micros=close + 50 + 10 * k) for k, f in enumerate(FINS)]
    kept = [r for n, r in enumerate(records, 1) if n not in FINS]
    at = CLOSE - len(FINS)
    out = tmp_path / "fins-after-close.pcap"
    write_records(out, linktype, kept[:at] + moved + kept[at:])
    return out


def test_data_acked_before_the_stop_moved_whatever_came_after(tmp_path: Path) -> None:
    """tshark: the media server's ACKs of C4 (5003 -> 6002) acknowledge past a FIN 0.6
    ms after its SYN, long before the CONNECT_CLOSE (frame 253, 133 ms after the lone
    SYN), and its FIN on C4 comes after the close."""
    capture = fins_after_close(tmp_path)
    rows = tshark_rows(capture, ["frame.number", "frame.time_epoch", "tcp.srcport",
                                 "tcp.flags", "tcp.len"])
    close_ts = next(float(ts) for n, ts, port, _, length in rows
                    if n == "253" and port == "5055" and length == "28")
    fin_ts = next(float(ts) for _, ts, port, flags, _ in rows
                  if port == "5003" and int(flags, 16) & 0x01)
    moved = tshark_moved_ts(capture, ("10.77.1.2", 6002))
    assert moved is not None and moved < close_ts < fin_ts
    config = build_config(load_file(sidecar(RUN_17)))
    analysis = analyze(read_traffic([str(capture)], config), config)
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert "with no data moved" not in finding.message
    assert ("closed the session (CONNECT_CLOSE, frame 253) 133 ms after it (the session's "
            "data connections opened after it, C4, C5, C6, carried data in between)"
            ) in finding.message
