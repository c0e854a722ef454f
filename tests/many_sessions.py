"""A capture of many concurrent Backup Exec 9 jobs between one media server and one agent.

Every job has its NDMP v4 control connection (greeting, CONNECT_OPEN, DATA_LISTEN whose
reply announces the agent's data port, DATA_START_BACKUP), its callback from the agent to
a media-range port and its data connection to the announced port; all control
connections stay open until the end, so every session overlaps every other one. This is
the shape that made session building quadratic (issue 7). Packets are written with
struct, not scapy: a few thousand jobs are tens of thousands of packets.

`python tests/many_sessions.py OUT.pcap [JOBS]` writes one for timing by hand.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
import sys
from pathlib import Path

from capture_factory import link_frame, pcap_bytes
from test_ndmp_wire import REPLY, REQUEST, greeting, msg, u32, v4_tcp_addr, xdr_string

MEDIA, AGENT = "10.77.0.1", "10.77.0.2"
MEDIA_RANGE, AGENT_RANGE = "5001-5100", "6001-9000"
CONNECT_OPEN, DATA_LISTEN, DATA_START_BACKUP = 0x900, 0x409, 0x401
NOTIFY_DATA_HALTED, HALT_SUCCESSFUL = 0x501, 1
SYN, FIN, ACK, PSH = 0x02, 0x01, 0x10, 0x08


def _tcp(src: str, dst: str, sport: int, dport: int, flags: int, seq: int, ack: int,
         payload: bytes) -> bytes:
    """One IPv4/TCP frame on Ethernet (checksums zero: flowcheck, like offloaded captures,
    does not need them)."""
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, 65535, 0, 0) + payload
    ip_header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                            _packed(src), _packed(dst))
    return link_frame(ip_header + tcp)


@functools.cache
def _packed(address: str) -> bytes:
    """An IPv4 address's 4 bytes, parsed once a process: a few addresses in tens of
    thousands of frames (parsing each frame's two took 70% of writing 2,000 jobs)."""
    return ipaddress.IPv4Address(address).packed


class _Conn:
    """One TCP connection's packets, with the sequence numbers kept right."""

    def __init__(self, out: list[tuple[float, bytes]], orig: tuple[str, int],
                 resp: tuple[str, int]) -> None:
        self.out, self.ends = out, {"orig": orig, "resp": resp}
        self.seq = {"orig": 1000, "resp": 900_000}

    def _send(self, ts: float, side: str, flags: int, payload: bytes = b"") -> None:
        other = "resp" if side == "orig" else "orig"
        (src, sport), (dst, dport) = self.ends[side], self.ends[other]
        ack = self.seq[other] if flags != SYN else 0
        self.out.append((ts, _tcp(src, dst, sport, dport, flags, self.seq[side], ack, payload)))
        self.seq[side] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def open(self, ts: float) -> None:
        self._send(ts, "orig", SYN)
        self._send(ts + 0.0001, "resp", SYN | ACK)
        self._send(ts + 0.0002, "orig", ACK)

    def data(self, ts: float, side: str, payload: bytes) -> None:
        self._send(ts, side, PSH | ACK, payload)

    def close(self, ts: float) -> None:
        self._send(ts, "orig", FIN | ACK)
        self._send(ts + 0.0001, "resp", FIN | ACK)
        self._send(ts + 0.0002, "orig", ACK)


def backup_control(out: list[tuple[float, bytes]], media_port: int, t: float,
                   data_port: int) -> _Conn:
    """A Backup Exec NDMP v4 backup's control connection from MEDIA:media_port, opened
    at t: greeting, CONNECT_OPEN, DATA_LISTEN announcing AGENT:data_port (at t + 0.11),
    DATA_START_BACKUP; left open (the caller closes it)."""
    control = _Conn(out, (MEDIA, media_port), (AGENT, 10000))
    control.open(t)
    control.data(t + 0.01, "resp", greeting(4))
    control.data(t + 0.02, "orig", msg(2, REQUEST, CONNECT_OPEN, u32(4)))
    control.data(t + 0.03, "resp", msg(2, REPLY, CONNECT_OPEN, u32(0), reply_sequence=2))
    control.data(t + 0.10, "orig", msg(3, REQUEST, DATA_LISTEN, u32(1)))
    control.data(t + 0.11, "resp", msg(3, REPLY, DATA_LISTEN,
                                       u32(0) + v4_tcp_addr((AGENT, data_port)),
                                       reply_sequence=3))
    control.data(t + 0.20, "orig", msg(4, REQUEST, DATA_START_BACKUP,
                                       xdr_string("dump") + u32(0)))
    control.data(t + 0.21, "resp", msg(4, REPLY, DATA_START_BACKUP, u32(0),
                                       reply_sequence=4))
    return control


def data_halted(control: _Conn, ts: float) -> None:
    """The agent's NOTIFY_DATA_HALTED (SUCCESSFUL) on the control connection: the job's
    normal end, before its control connection closes."""
    control.data(ts, "resp", msg(5, REQUEST, NOTIFY_DATA_HALTED, u32(HALT_SUCCESSFUL)))


def many_sessions_packets(jobs: int, *, spacing: float = 0.002) -> list[tuple[float, bytes]]:
    """Frames (ts, bytes) of `jobs` overlapping backups, in time order.

    Job k opens its control connection at k * spacing; its callback comes 0.05 s later
    (every fourth one late, after its data connection, so matching must not be greedy),
    its data connection 0.15 s later. All control connections close after the last job
    started, so all sessions are open at once.
    """
    out: list[tuple[float, bytes]] = []
    start = 1_700_000_000.0
    closing = start + jobs * spacing + 5.0
    for k in range(jobs):
        t = start + k * spacing
        data_port = 6001 + k % 3000
        control = backup_control(out, 20000 + k % 30000, t, data_port)
        data_halted(control, closing - 0.5 + k * 0.0001)
        control.close(closing + k * 0.0001)
        callback = _Conn(out, (AGENT, 30000 + k % 30000), (MEDIA, 5001 + k % 100))
        callback.open(t + (0.18 if k % 4 == 3 else 0.05))
        callback.close(closing + 1.0)
        data = _Conn(out, (MEDIA, 40000 + k % 20000), (AGENT, data_port))
        data.open(t + 0.15)
        for i in range(3):
            data.data(t + 0.16 + i * 0.001, "resp", bytes(1000))
        data.close(t + 0.3)
    out.sort(key=lambda item: item[0])
    return out


def write_many_sessions(path: str | Path, jobs: int) -> Path:
    path = Path(path)
    path.write_bytes(pcap_bytes(many_sessions_packets(jobs)))
    return path


if __name__ == "__main__":
    write_many_sessions(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000)
