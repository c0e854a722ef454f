"""The fallback sniffer: scapy writing pcap records into a pipe the reader consumes.

Used when neither tcpdump nor dumpcap is installed (or with `--sniffer scapy`). It is
slower than libpcap. The capture filter is compiled by libpcap (as scapy's own sniff
filter= is) and attached to the packet socket; without libpcap only the default filter
may be left out (the decoder skips non-TCP traffic itself), a filter asked for is a
usage error. The socket gets a large receive buffer, and its kernel drop count
(PACKET_STATISTICS, packet(7)) is the sniffer's, as tcpdump's "dropped by kernel".
Scapy is imported only here.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import BinaryIO

from flowcheck.errors import InputError, UsageError
from flowcheck.sources.batch import LINKTYPE_ETHERNET, LINKTYPE_RAW
from flowcheck.sources.capture_filter import can_compile, default_filter, filter_error
from flowcheck.sources.live_write import open_sink, remove_unused, write_error_line

# /sys/class/net/IFACE/type (ARPHRD_*) -> the link type of the frames a packet socket gives.
_LINK_OF_ARPHRD = {1: LINKTYPE_ETHERNET, 772: LINKTYPE_ETHERNET, 65534: LINKTYPE_RAW}
_ARPHRD_LOOPBACK = 772
READY_TIMEOUT = 15.0  # seconds for the sniffer's socket to open
STOP_TIMEOUT = 10.0  # seconds a drop count waits for a stop under way elsewhere
# packet(7): getsockopt(SOL_PACKET, PACKET_STATISTICS) gives struct tpacket_stats
# {tp_packets, tp_drops} (unsigned ints) since the last call; SO_RCVBUFFORCE (socket(7))
# passes net.core.rmem_max with CAP_NET_ADMIN.
_SOL_PACKET, _PACKET_STATISTICS, _SO_RCVBUFFORCE = 263, 6, 33


def _interface_link_type(interface: str) -> tuple[int, bool]:
    """(pcap link type, is loopback) of a Linux interface; InputError if it is missing."""
    if interface == "any":  # libpcap's pseudo-interface: no packet socket opens on it
        raise InputError("--interface any: the scapy sniffer cannot capture on the 'any' "
                         "pseudo-interface (libpcap's); name one interface, or install "
                         "tcpdump or dumpcap (--sniffer tcpdump or dumpcap)")
    type_file = Path("/sys/class/net") / interface / "type"
    try:
        arphrd = int(type_file.read_text().strip())
    except (OSError, ValueError):
        raise InputError(f"--interface {interface}: no such network interface") from None
    if arphrd not in _LINK_OF_ARPHRD:
        raise InputError(f"--interface {interface}: its link type (ARPHRD {arphrd}) is not "
                         "supported by the scapy sniffer; install tcpdump")
    return _LINK_OF_ARPHRD[arphrd], arphrd == _ARPHRD_LOOPBACK


def _start_error(interface: str, error: BaseException | None) -> InputError:
    """The one-line error for a sniffer thread that ended before it listened: EPERM or
    EACCES from socket(AF_PACKET) without CAP_NET_RAW, ENODEV for an interface gone."""
    if isinstance(error, OSError) and error.errno in (errno.EPERM, errno.EACCES):
        return InputError(f"--interface {interface}: permission denied (run as root or give "
                          "python CAP_NET_RAW)")
    if isinstance(error, OSError) and error.errno in (errno.ENODEV, errno.ENXIO):
        return InputError(f"--interface {interface}: no such network interface")
    reason = f": {str(error).strip().splitlines()[0]}" if str(error or "").strip() else ""
    return InputError(f"--interface {interface}: the scapy sniffer did not start{reason}")


class ScapyCapture:
    """A running scapy sniffer, used as a LiveCapture is: stdout, banner, terminate, close."""

    tool = "scapy"

    def __init__(self, interface: str, write: str | None = None, *,
                 capture_filter: str | None = None, buffer_mib: int,
                 tunnel_ports: tuple[int, ...] = ()) -> None:
        """capture_filter: BPF ("" none; None: the default keeping the UDP `tunnel_ports`
        too, left out without libpcap: self.capture_filter says what is applied);
        buffer_mib: the socket's receive buffer. UsageError for a filter libpcap
        rejects or cannot compile; InputError for the interface."""
        # Scapy warns on stderr about link types it does not dissect (the loopback):
        # frames are written raw, so that is noise before our one-line messages.
        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
        from scapy.sendrecv import AsyncSniffer
        from scapy.utils import PcapWriter

        link_type, loopback = _interface_link_type(interface)
        self.buffer_mib = buffer_mib
        capture_filter = _usable_filter(interface, capture_filter, tunnel_ports)
        self.capture_filter = capture_filter or None  # as LiveCapture.capture_filter
        read_end, write_end = os.pipe()
        # Unbuffered, as tcpdump's pipe (sources/live.py): a buffered reader keeps the
        # bytes beyond the 4 magic ones and reads the pipe again before returning them,
        # so the first packets waited for a later one.
        self.stdout: BinaryIO = os.fdopen(read_end, "rb", buffering=0)
        self._pipe = os.fdopen(write_end, "wb")
        self._sinks = [PcapWriter(self._pipe, linktype=link_type, sync=True)]
        self._write = write
        self.write_error: str | None = None  # as LiveCapture.write_error
        if write is not None:
            try:
                self._sinks.append(PcapWriter(open_sink(write), linktype=link_type,
                                              sync=True))
            except OSError as exc:
                # An output that cannot be written: a usage error, as --html's (exit 2).
                raise UsageError(f"--write {write}: cannot write the capture: "
                                 f"{exc.strerror or exc}") from None
        # Opened here, not in the sniffer's thread: its errors come at once, and its
        # drop count can be read when the sniffer stops.
        try:
            self._socket = _open_socket(interface, capture_filter, buffer_mib)
        except BaseException:
            for sink in self._sinks:
                with contextlib.suppress(OSError):
                    sink.close()
            self.stdout.close()
            if write is not None:  # no --write file left by a sniffer that never listened
                remove_unused(write)
            raise
        self._drops: int | None = None
        self._previous = b""
        self._loopback = loopback
        self._lock = threading.Lock()
        self._stopped = False
        self._ended = threading.Event()  # terminate has read the drop count, ended the pipe
        listening = threading.Event()
        self._sniffer = AsyncSniffer(opened_socket=self._socket, store=False,
                                     prn=self._record,
                                     stop_filter=lambda _: self.write_error is not None,
                                     started_callback=listening.set)
        self._sniffer.start()
        # Say "listening" only once the sniffer's thread reads the socket, so the
        # caller's traffic from then on is captured. A thread that fails ends, the error
        # kept in `exception`.
        deadline = time.monotonic() + READY_TIMEOUT
        while not listening.wait(0.05):
            thread = self._sniffer.thread
            if (thread is not None and not thread.is_alive()) or time.monotonic() > deadline:
                self.close()
                if write is not None:
                    remove_unused(write)
                raise _start_error(interface, getattr(self._sniffer, "exception", None))
        with self._lock:
            # The file headers once the sniffer listens, as tcpdump and dumpcap write
            # theirs: a quiet link is not empty, and --write's header is the sign a
            # script waits for (docs/cli.md). A packet recorded first wrote them.
            failed: OSError | None = None
            try:
                for sink in self._sinks:
                    if not sink.header_present:
                        sink.write_header(None)
            except OSError as exc:
                failed = exc
        if failed is not None:  # closed outside the lock: terminate takes it
            with contextlib.suppress(OSError):
                self.close()
            raise UsageError(f"--write {write}: cannot write the capture: "
                             f"{failed.strerror or failed}") from None
        self.banner = f"scapy: listening on {interface}, link-type {link_type}"

    def _record(self, packet: object) -> None:
        frame = bytes(packet)  # type: ignore[call-overload]
        with self._lock:
            # A packet socket on the loopback sees each packet twice (sent, then
            # received); libpcap drops the sent copy, so does this.
            if self._loopback and frame == self._previous:
                self._previous = b""
                return
            self._previous = frame
            if self.write_error is not None:
                return
            self._sinks[0].write(packet)
            if len(self._sinks) > 1:
                self._keep(packet)

    def _keep(self, packet: object) -> None:
        """Copy the packet into the --write file; a write that fails (a full disk) stops
        the capture as the tee of sources/live.py does: the pipe ends after this packet
        (its reader sees the end) and stop_filter ends the sniffer."""
        assert self._write is not None
        try:
            self._sinks[1].write(packet)
        except OSError as exc:
            self.write_error = write_error_line(self._write, exc)
            with contextlib.suppress(OSError):
                self._sinks[1].close()
            del self._sinks[1]
            self._sinks[0].close()

    def terminate(self) -> None:
        """Stop sniffing and end the pipe: the reader then sees the end of the capture."""
        with self._lock:
            stopping, self._stopped = self._stopped, True
        if stopping:
            return
        try:
            self._stop_and_end()
        finally:
            self._ended.set()

    def _stop_and_end(self) -> None:
        if self._sniffer.running:
            # A sniffer that failed to start raises its error again here.
            with contextlib.suppress(Exception):
                self._sniffer.stop()
        # Read before the pipe ends: its reader asks for the count once it sees the end.
        self._drops = _socket_drops(self._socket)
        with contextlib.suppress(OSError, ValueError):  # the pipe: ended after a write error
            self._sinks[0].close()
        if len(self._sinks) > 1:
            try:
                self._sinks[1].close()
            except OSError as exc:
                assert self._write is not None
                self.write_error = self.write_error or write_error_line(self._write, exc)
        self._socket.close()

    def kernel_drops(self) -> int | None:
        """Stop sniffing; the packets the kernel dropped because the socket's buffer was
        full (as LiveCapture.kernel_drops); None if the kernel did not say."""
        self.terminate()
        # live's stop runs in a thread of its own: its terminate may still be on its way
        # to the count when the reader, having seen the end, asks for it.
        self._ended.wait(STOP_TIMEOUT)
        return self._drops

    def close(self) -> None:
        self.terminate()
        self.stdout.close()


def _usable_filter(interface: str, capture_filter: str | None,
                   tunnel_ports: tuple[int, ...]) -> str:
    """The filter to attach ("" none): UsageError for one libpcap rejects, or one asked
    for without libpcap to compile it."""
    if capture_filter is None:
        return default_filter(interface, tunnel_ports) if can_compile() else ""
    if capture_filter and not can_compile():
        raise UsageError("--capture-filter: the scapy sniffer compiles filters with libpcap, "
                         "which is not installed (install libpcap, or leave the filter out)")
    reason = filter_error(capture_filter, interface)
    if reason is not None:
        raise UsageError(f"scapy on {interface}: invalid capture filter {capture_filter!r}: "
                         f"{reason}")
    return capture_filter


def _open_socket(interface: str, capture_filter: str, buffer_mib: int):  # noqa: ANN202
    """Scapy's listening packet socket on the interface, the filter attached, with a
    buffer_mib MiB receive buffer (as much as net.core.rmem_max allows without
    CAP_NET_ADMIN). InputError when it cannot be opened."""
    from scapy.config import conf
    from scapy.error import Scapy_Exception

    try:
        listener = conf.L2listen(iface=interface, filter=capture_filter or None)
    except (OSError, Scapy_Exception) as exc:
        raise _start_error(interface, exc) from None
    size = buffer_mib << 20
    try:
        listener.ins.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
    except OSError:
        listener.ins.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return listener


def _socket_drops(listener) -> int | None:  # noqa: ANN001
    """tp_drops of the packet socket (PACKET_STATISTICS); None when not told."""
    try:
        stats = listener.ins.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8)
    except (OSError, AttributeError):
        return None
    return struct.unpack("II", stats)[1]
