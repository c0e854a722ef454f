"""Live capture: tcpdump (or dumpcap) writing pcap to a pipe that the reader consumes.

`open_live` starts the capture tool and waits until it says it is listening
(flowcheck.sources.live_ready), so a missing interface or a permission problem becomes
one InputError line, and the caller knows packets from now on are seen. With `write`,
every byte read from the pipe is also saved to that file (a normal capture file,
readable later by every command), flushed as it is read: a flowcheck killed outright
leaves the file readable up to its last whole record. The tool never outlives
flowcheck (`_end_with_parent`). It runs in a session of its own, so that a signal meant
for flowcheck (a terminal's Ctrl-C) does not stop it before it has handed over what it
received: flowcheck stops it (cli.live_run).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from flowcheck.errors import InputError, UsageError
from flowcheck.sources.byte_source import Prefixed
from flowcheck.sources.capture_filter import default_filter
from flowcheck.sources.live_ready import wait_until_listening
from flowcheck.sources.live_write import open_sink, remove_unused, write_error_line

if TYPE_CHECKING:
    from flowcheck.sources.scapy_live import ScapyCapture

# MiB of kernel buffer the sniffer gets (tcpdump -B in KiB, dumpcap -B in MiB, the scapy
# socket's SO_RCVBUF): libpcap's default 2 MiB holds a few dozen full-size frames of a
# burst, and the sniffer waits on the pipe whenever flowcheck is busy analysing.
BUFFER_MIB = 32
# Seconds a tool whose output has ended is given to exit by itself (kernel_drops).
REAP_SECONDS = 1.0
# The tools' statistics when they stop (libpcap's pcap_stats): tcpdump prints
# "N packets dropped by kernel"; dumpcap "Packets received/dropped on interface 'X': R/D".
_DROPS = (re.compile(r"(\d+) packets? dropped by kernel"),
          re.compile(r"received/dropped on interface .*?: \d+/(\d+)"))


class _TeeReader:
    """The capture pipe, copying every byte read into a file, flushed at once (the
    pipe's reads already come as packets arrive).

    A write that fails (a full disk, an I/O error) stops the copy and calls `stop` (the
    sniffer flushes and exits, so the reader gets whole records to the end): the capture
    ends there and `write_error` says why in one line; the file holds what was written.
    """

    def __init__(self, stream: BinaryIO | Prefixed, sink: BinaryIO, path: str,
                 stop: Callable[[], None]) -> None:
        self._stream = stream
        self._sink: BinaryIO | None = sink
        self._path = path
        self._stop = stop
        self.write_error: str | None = None

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._keep(data)
        return data

    def readinto(self, target: memoryview | bytearray) -> int:
        count = self._stream.readinto(target) or 0  # type: ignore[attr-defined]
        self._keep(target[:count])
        return count

    def readinto1(self, target: memoryview | bytearray) -> int:
        reader = getattr(self._stream, "readinto1", None) or self._stream.readinto  # type: ignore[attr-defined]
        count = reader(target) or 0
        self._keep(target[:count])
        return count

    def _keep(self, data: bytes | memoryview | bytearray) -> None:
        if data and self._sink is not None:
            try:
                self._sink.write(data)
                self._sink.flush()
            except OSError as exc:
                self.write_error = write_error_line(self._path, exc)
                self._drop_sink()
                self._stop()

    def _drop_sink(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            with contextlib.suppress(OSError):  # its buffer cannot be written either
                sink.close()

    def fileno(self) -> int:
        return self._stream.fileno()

    def cut_at(self, offset: int) -> None:
        """End the copy at byte `offset` of the stream (where the record the sniffer was
        writing when stopped began): it stays a whole capture file."""
        if self._sink is not None and self._sink.seekable():
            # A pipe (`--write -`, a FIFO) cannot take back what it passed on: its reader
            # sees the half record as a capture cut there, as from tcpdump's own -w -.
            try:
                self._sink.flush()
                self._sink.truncate(offset)
            except OSError as exc:
                self.write_error = self.write_error or write_error_line(self._path, exc)
                self._drop_sink()

    def close(self) -> None:
        self._stream.close()
        if self._sink is not None:
            try:
                self._sink.close()
            except OSError as exc:
                self.write_error = self.write_error or write_error_line(self._path, exc)
                self._drop_sink()


class LiveCapture:
    """A running capture tool: read `stdout` (pcap or pcapng); `stop()` ends it."""

    def __init__(self, process: subprocess.Popen, stdout: BinaryIO | Prefixed | _TeeReader,
                 tool: str, banner: str, buffer_mib: int = BUFFER_MIB,
                 capture_filter: str | None = None) -> None:
        self.process = process
        self.stdout = stdout
        self.tool = tool
        self.banner = banner  # the tool's "listening on ..." line
        self.buffer_mib = buffer_mib  # the kernel buffer it was given
        self.capture_filter = capture_filter  # the BPF filter it applies; None: none
        self.stopped = False  # flowcheck asked the tool to stop (terminate)

    @property
    def write_error(self) -> str | None:
        """Why the --write copy failed mid-capture (one line), None when it did not."""
        return getattr(self.stdout, "write_error", None)

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.stopped = True
            self.process.terminate()

    def stop_cut(self, offset: int) -> bool:
        """Whether the stream's incomplete last record, beginning at byte `offset`, is
        the one the tool was writing when flowcheck stopped it: tcpdump 4.99 takes
        SIGTERM without SA_RESTART, so a write blocked on the full pipe returns, the rest
        of that record unwritten, and the tool exits cleanly (the `--write` copy then ends
        before that record). False when the tool ended by itself."""
        if not self.stopped:
            return False
        cut_at = getattr(self.stdout, "cut_at", None)
        if cut_at is not None:
            cut_at(offset)
        return True

    def stop(self, timeout: float = 10.0) -> int:
        """Ask the tool to stop (it flushes its output first) and wait for it."""
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kernel_drops(self) -> int | None:
        """Stop the tool and return the packets it says it dropped (None: it did not say).
        Called once its output ended: a tool that ended by itself is left a moment to be
        reaped first, so that stopping it here does not count as flowcheck's stop
        (stop_cut: its cut record stays a cut capture)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(REAP_SECONDS)
        self.stop()
        if self.process.stderr is None or self.process.stderr.closed:
            return None
        return parse_drops(self.process.stderr.read().decode(errors="replace"))

    def close(self) -> None:
        self.stop()
        self.stdout.close()
        if self.process.stderr is not None:
            self.process.stderr.close()


SNIFFERS = ("tcpdump", "dumpcap", "scapy")
_PR_SET_PDEATHSIG = 1  # prctl(2), <linux/prctl.h>


def _death_signal_setter() -> object | None:
    """libc's prctl, looked up before any fork (the child must not load libraries);
    None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _end_with_parent(prctl: object | None, parent: int) -> None:
    """In the capture tool's process, between fork and exec: Linux sends it SIGTERM
    (it flushes and exits) when flowcheck dies, even by SIGKILL (prctl(2)
    PR_SET_PDEATHSIG). Linux forgets the request when the tool changes its user
    (tcpdump's -Z, see capture_command) or execs a set-user-ID or file-capability
    binary: such a tool still ends at its next write into the closed pipe. The signal
    follows the thread that started the tool: open_live runs on the main one."""
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # type: ignore[operator]
    if os.getppid() != parent:  # flowcheck died before the request: no signal comes
        os._exit(1)


def parse_drops(text: str) -> int | None:
    """Packets dropped, summed over interfaces, from tcpdump's or dumpcap's final
    statistics on stderr; None when the text holds none."""
    counts = [int(m.group(1)) for pattern in _DROPS for m in pattern.finditer(text)]
    return sum(counts) if counts else None


def capture_command(interface: str, capture_filter: str = "tcp",
                    tool: str | None = None,
                    buffer_mib: int = BUFFER_MIB) -> tuple[str, list[str]]:
    """The tool (tcpdump, else dumpcap, unless one is named) and its argv; buffer_mib:
    its kernel buffer in MiB."""
    for name in (tool,) if tool else ("tcpdump", "dumpcap"):
        path = shutil.which(name)
        if path and name == "tcpdump":
            argv = [path, "-i", interface, "--immediate-mode", "-U", "-s", "0", "-n",
                    "-B", str(buffer_mib * 1024), "-w", "-"]
            if os.geteuid() == 0:
                # Started by root, tcpdump switches to its own user, and Linux then
                # forgets the signal that ends it with flowcheck (_end_with_parent).
                # It stays root, as flowcheck is: it only copies raw frames (-w), it
                # dissects nothing.
                argv[1:1] = ["-Z", "root"]
            return "tcpdump", argv + ([capture_filter] if capture_filter else [])
        if path and name == "dumpcap":
            argv = [path, "-i", interface, "-P", "-q", "-B", str(buffer_mib), "-w", "-"]
            return "dumpcap", argv + (["-f", capture_filter] if capture_filter else [])
    wanted = tool or "tcpdump or dumpcap"
    raise InputError(f"live capture needs {wanted}, which is not installed")


def open_live(interface: str, *, capture_filter: str | None = None, write: str | None = None,
              sniffer: str | None = None, buffer_mib: int = BUFFER_MIB,
              tunnel_ports: tuple[int, ...] = ()) -> LiveCapture | ScapyCapture:
    """Start capturing on interface; the result's stdout is a pcap stream for iter_batches,
    its capture_filter the filter the sniffer applies (None: none).

    capture_filter: a BPF expression ("" for none; None: capture_filter.default_filter,
    which also keeps the UDP `tunnel_ports` named besides the standard ones).
    sniffer: "tcpdump", "dumpcap" or "scapy"; by default tcpdump, else dumpcap, else
    scapy (slower). buffer_mib: the sniffer's kernel buffer, MiB. A filter the sniffer
    rejects is a UsageError with its reason; a missing interface or no permission an
    InputError.
    """
    if not interface or interface.startswith("-"):
        raise UsageError(f"--interface: {interface!r} is not an interface name")
    if sniffer is not None and sniffer not in SNIFFERS:
        raise UsageError(f"--sniffer: {sniffer!r} is not one of {', '.join(SNIFFERS)}")
    if sniffer is None and not (shutil.which("tcpdump") or shutil.which("dumpcap")):
        sniffer = "scapy"
    if buffer_mib < 1:
        raise UsageError(f"--buffer: {buffer_mib} MiB is not a buffer size")
    if sniffer == "scapy":
        from flowcheck.sources.scapy_live import ScapyCapture

        return ScapyCapture(interface, write, capture_filter=capture_filter,
                            buffer_mib=buffer_mib, tunnel_ports=tunnel_ports)
    if capture_filter is None:
        capture_filter = default_filter(interface, tunnel_ports)
    tool, argv = capture_command(interface, capture_filter, sniffer, buffer_mib)
    sink = None
    if write is not None:
        try:
            sink = open_sink(write)
        except OSError as exc:
            # An output that cannot be written: a usage error, as --html's (exit 2).
            raise UsageError(f"--write {write}: cannot write the capture: "
                             f"{exc.strerror or exc}") from None
    try:
        process, banner, head = _start(argv, tool, interface, capture_filter)
    except BaseException:
        if sink is not None and write is not None:
            sink.close()
            remove_unused(write)
        raise
    assert process.stdout is not None
    stdout: BinaryIO | Prefixed | _TeeReader = process.stdout
    if head:
        stdout = Prefixed(head, process.stdout)
    if sink is not None:
        stdout = _TeeReader(stdout, sink, write, lambda: process.terminate())
    return LiveCapture(process, stdout, tool, banner, buffer_mib, capture_filter or None)


def _start(argv: list[str], tool: str, interface: str,
           capture_filter: str) -> tuple[subprocess.Popen, str, bytes]:
    """Start the tool and wait until it listens: (process, banner, output read meanwhile)."""
    prctl, parent = _death_signal_setter(), os.getpid()
    try:
        # Unbuffered (bufsize=0): a buffered reader that holds bytes beyond a short read
        # (the 4 magic bytes) and is then asked for a big chunk reads the pipe again
        # before returning them, so the first packets waited for the next one.
        # A session of its own: a terminal's Ctrl-C (SIGINT to its whole foreground
        # group) or hang-up reaches flowcheck alone, which lets the tool hand over what
        # its kernel ring still holds before it stops it (cli.live_run, sources.live_drain).
        process = subprocess.Popen(argv, bufsize=0, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True,
                                   preexec_fn=lambda: _end_with_parent(prctl, parent))
    except OSError as exc:
        raise InputError(f"{tool}: cannot start: {exc.strerror or exc}") from None
    assert process.stdout is not None and process.stderr is not None
    try:
        banner, head = wait_until_listening(process, tool, interface, capture_filter)
    except KeyboardInterrupt:  # Ctrl-C while it starts: it no longer gets it itself
        process.kill()
        process.wait()
        raise
    return process, banner, head
