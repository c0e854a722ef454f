"""The fallback sniffer: scapy writing pcap records into a pipe the reader consumes.

Used when neither tcpdump nor dumpcap is installed (or with `--sniffer scapy`). It is
slower than libpcap and applies no kernel filter (compiling one needs tcpdump): the
decoder skips non-TCP traffic itself. Scapy is imported only here.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from pathlib import Path
from typing import BinaryIO

from flowcheck.errors import InputError
from flowcheck.sources.batch import LINKTYPE_ETHERNET, LINKTYPE_RAW
from flowcheck.sources.live import remove_unused, write_error_line

# /sys/class/net/IFACE/type (ARPHRD_*) -> the link type of the frames a packet socket gives.
_LINK_OF_ARPHRD = {1: LINKTYPE_ETHERNET, 772: LINKTYPE_ETHERNET, 65534: LINKTYPE_RAW}
_ARPHRD_LOOPBACK = 772
READY_TIMEOUT = 15.0  # seconds for the sniffer's socket to open


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

    def __init__(self, interface: str, write: str | None = None) -> None:
        # Scapy warns on stderr about link types it does not dissect (the loopback):
        # frames are written raw, so that is noise before our one-line messages.
        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
        from scapy.sendrecv import AsyncSniffer
        from scapy.utils import PcapWriter

        link_type, loopback = _interface_link_type(interface)
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
                self._sinks.append(PcapWriter(write, linktype=link_type, sync=True))
            except OSError as exc:
                raise InputError(f"--write {write}: {exc.strerror or exc}") from None
        self._previous = b""
        self._loopback = loopback
        self._lock = threading.Lock()
        self._stopped = False
        listening = threading.Event()
        self._sniffer = AsyncSniffer(iface=interface, store=False, prn=self._record,
                                     stop_filter=lambda _: self.write_error is not None,
                                     started_callback=listening.set)
        self._sniffer.start()
        # The sniffer opens its socket in its own thread: say "listening" only once it
        # does, so the caller's traffic from then on is captured. A socket it cannot
        # open ends that thread, the error kept in `exception`.
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
            try:
                for sink in self._sinks:
                    if not sink.header_present:
                        sink.write_header(None)
            except OSError as exc:
                self.close()
                raise InputError(f"{write}: cannot write the capture: "
                                 f"{exc.strerror or exc}") from None
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
            if self._stopped:
                return
            self._stopped = True
        if self._sniffer.running:
            # A sniffer that failed to start raises its error again here.
            with contextlib.suppress(Exception):
                self._sniffer.stop()
        with contextlib.suppress(OSError, ValueError):  # the pipe: ended after a write error
            self._sinks[0].close()
        if len(self._sinks) > 1:
            try:
                self._sinks[1].close()
            except OSError as exc:
                assert self._write is not None
                self.write_error = self.write_error or write_error_line(self._write, exc)

    def kernel_drops(self) -> None:
        """Scapy keeps no drop count of its own (as LiveCapture.kernel_drops)."""
        return None

    def close(self) -> None:
        self.terminate()
        self.stdout.close()
