"""Captures taken the ways users take them: stopped early, one direction, a short snap length.

The lab's usual capture (netns.PacketCapture) sees everything on M's veth. Users bring
captures that are not whole (issue 9): tcpdump stopped right after a handshake packet,
one direction only (a SPAN port, `tcpdump -Q`), a snap length that cuts every frame.
ShapedCapture makes those on purpose, still with tcpdump on M's veth:

- `capture_options` are extra tcpdump options (`-Q out`, `-s 54`; tcpdump takes the last
  `-s`), the file written by tcpdump itself as usual;
- `stop_after` names a packet (STOP_TRIGGERS): tcpdump writes the pcap stream to a pipe
  (`-w - -U`, flushed per packet), the lab copies each record to FILE and, right after
  writing the first record that is that packet, closes FILE and stops tcpdump (SIGINT).
  The file ends with that packet exactly, as if the sniffer had been stopped at that
  instant; the job itself goes on and succeeds on the network.
"""

from __future__ import annotations

import io
import ipaddress
import signal
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from flowcheck.lab.last_packets import wait_for_last_packets
from flowcheck.lab.netns import Lab, LabError, _Tcpdump
from flowcheck.sources.byte_source import read_fully

PortRange = tuple[int, int]
Trigger = Callable[[bytes], bool]

_SYN, _ACK = 0x02, 0x10
_PCAP_HEADER = 24
_RECORD_HEADER = 16

# Scenario.stop_after names and the packet each names (stop_trigger decides).
STOP_TRIGGERS = {
    "control-syn": "the control connection's SYN (media server to the NDMP port)",
    "control-syn-ack": "the control connection's SYN-ACK (from the NDMP port)",
    "callback-syn": "the callback's SYN (agent to a port of the media range)",
    "data-syn": "the data connection's SYN (media server to a port of the agent range)",
    "data-syn-ack": "the data connection's SYN-ACK (from a port of the agent range)",
}


def tcp_fields(frame: bytes) -> tuple[str, int, str, int, int] | None:
    """(src ip, src port, dst ip, dst port, TCP flags) of an Ethernet/IPv4/TCP frame.

    None for anything else (ICMP, a frame cut before the TCP flags).
    """
    if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    tcp = 14 + ihl
    if len(frame) < tcp + 14:
        return None
    src_port, dst_port = struct.unpack_from(">HH", frame, tcp)
    return (str(ipaddress.IPv4Address(frame[26:30])), src_port,
            str(ipaddress.IPv4Address(frame[30:34])), dst_port, frame[tcp + 13])


def stop_trigger(name: str, ndmp_port: int, media_range: PortRange,
                 agent_range: PortRange) -> Trigger:
    """A predicate on one captured Ethernet frame: is it the packet `name` names?

    Raises LabError for a name not in STOP_TRIGGERS.
    """
    def within(port: int, port_range: PortRange) -> bool:
        return port_range[0] <= port <= port_range[1]

    checks: dict[str, Callable[[int, int, int], bool]] = {
        "control-syn": lambda flags, src, dst: flags & (_SYN | _ACK) == _SYN
        and dst == ndmp_port,
        "control-syn-ack": lambda flags, src, dst: flags & (_SYN | _ACK) == _SYN | _ACK
        and src == ndmp_port,
        "callback-syn": lambda flags, src, dst: flags & (_SYN | _ACK) == _SYN
        and dst != ndmp_port and within(dst, media_range),
        "data-syn": lambda flags, src, dst: flags & (_SYN | _ACK) == _SYN
        and dst != ndmp_port and within(dst, agent_range),
        "data-syn-ack": lambda flags, src, dst: flags & (_SYN | _ACK) == _SYN | _ACK
        and src != ndmp_port and within(src, agent_range),
    }
    if name not in checks:
        raise LabError(f"unknown stop_after {name!r}; known: {', '.join(checks)}")
    check = checks[name]

    def trigger(frame: bytes) -> bool:
        fields = tcp_fields(frame)
        return fields is not None and check(fields[4], fields[1], fields[3])

    return trigger


class _StoppingTcpdump(_Tcpdump):
    """tcpdump -w - in M's namespace; a thread copies records to `path` up to the
    trigger packet, then stops tcpdump and discards the rest of the pipe."""

    def __init__(self, lab: Lab, interface: str, path: Path, packet_filter: str,
                 extra: tuple[str, ...], trigger: Trigger) -> None:
        self.path = path
        self.trigger = trigger
        self.written = 0
        self.fired = threading.Event()
        # As _Tcpdump.__init__, but the pcap stream comes back on a pipe.
        self.process = subprocess.Popen(
            lab.exec_argv("m", self.argv(interface, Path("-"), packet_filter, extra)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stderr is not None
        self.process.stderr = io.TextIOWrapper(self.process.stderr, errors="replace")
        if not self._await_start():
            self.process.kill()
            self.process.wait()
            raise LabError(f"tcpdump on {interface} did not start")
        self._copier = threading.Thread(target=self._copy, daemon=True)
        self._copier.start()

    def _copy(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        with self.path.open("wb") as out:
            header = read_fully(stdout, _PCAP_HEADER)
            out.write(header)
            out.flush()
            # tcpdump writes pcap in the host's byte order; the magic number tells which.
            order = "<" if header[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
            while len(header) == _PCAP_HEADER:
                record = read_fully(stdout, _RECORD_HEADER)
                if len(record) < _RECORD_HEADER:
                    break
                caplen = struct.unpack_from(f"{order}I", record, 8)[0]
                frame = read_fully(stdout, caplen)
                out.write(record + frame)
                out.flush()
                self.written += 1
                if self.trigger(frame):
                    self.fired.set()
                    break
        if self.fired.is_set():
            # The sniffer stops now: what it would have written next is never stored.
            self._interrupt_only()
        while stdout.read(65536):
            pass

    def _interrupt_only(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def stop(self) -> int:
        super().stop()  # drops by the kernel are still refused
        self._copier.join(timeout=10)
        return self.written


class ShapedCapture:
    """One tcpdump on M's backup-network veth, shaped as `options` and `stop_after` say.

    `stop()` returns the packets stored; LabError when tcpdump dropped packets or the
    trigger packet never came (the file would not have the shape it claims).
    """

    def __init__(self, lab: Lab, path: Path, packet_filter: str, *,
                 options: tuple[str, ...] = (), trigger: Trigger | None = None,
                 trigger_name: str = "") -> None:
        self.path = path
        self.trigger_name = trigger_name
        self._hosts = (lab.media_ns, lab.agent_ns)
        interface = lab.backup_link.media_if
        self._dump: _Tcpdump = (
            _StoppingTcpdump(lab, interface, path, packet_filter, options, trigger)
            if trigger is not None else _Tcpdump(lab, interface, path, packet_filter, options))

    def stop(self) -> int:
        dump = self._dump
        if isinstance(dump, _StoppingTcpdump):
            if not dump.fired.wait(timeout=2.0):
                dump.stop()
                raise LabError(f"the capture never saw {STOP_TRIGGERS[self.trigger_name]}")
            return dump.stop()
        # The last segments (FIN, final ACK) into the capture first.
        wait_for_last_packets(self._hosts, [dump])
        return dump.stop()
