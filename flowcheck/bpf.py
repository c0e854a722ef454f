"""libpcap's BPF compiler, through ctypes: what a capture filter means to tcpdump, dumpcap
and scapy (all three compile with libpcap), on a "dead" handle of a link type
(pcap_open_dead, pcap_compile, pcap_geterr, pcap_offline_filter: pcap_compile(3PCAP),
pcap_offline_filter(3PCAP); filter syntax pcap-filter(7)).

Used by sources.capture_filter (does the sniffer accept a filter) and
verify.capture_filter (does a capture's own filter keep the NDMP port); pure: no
capture is opened.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL = 1, 12, 113  # pcap/dlt.h
SNAPLEN = 262144  # bytes: tcpdump's -s 0
_NETMASK_UNKNOWN = 0xFFFFFFFF  # PCAP_NETMASK_UNKNOWN: only `ip broadcast` needs one


class _Program(ctypes.Structure):  # struct bpf_program
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p)]


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Header(ctypes.Structure):  # struct pcap_pkthdr
    _fields_ = [("ts", _Timeval), ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


@cache
def libpcap() -> ctypes.CDLL | None:
    """libpcap, loaded once; None when it is not installed."""
    for name in (ctypes.util.find_library("pcap"), "libpcap.so.1", "libpcap.so.0.8"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Program),
                                     ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_offline_filter.argtypes = [ctypes.POINTER(_Program),
                                            ctypes.POINTER(_Header), ctypes.c_char_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_Program)]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        return lib
    return None


@contextmanager
def _compiled(expression: str,
              dlt: int) -> Iterator[tuple[ctypes.CDLL, _Program | None, str] | None]:
    """`expression` compiled on a dead handle of link type `dlt`: (libpcap, the program,
    "") or (libpcap, None, libpcap's reason for rejecting it); None without libpcap or a
    handle. Program and handle are freed on leaving."""
    lib = libpcap()
    handle = lib.pcap_open_dead(dlt, SNAPLEN) if lib is not None else None
    if lib is None or not handle:
        yield None
        return
    program = _Program()
    try:
        if lib.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1,
                            _NETMASK_UNKNOWN) < 0:
            yield lib, None, (lib.pcap_geterr(handle) or b"invalid filter").decode(
                errors="replace")
            return
        try:
            yield lib, program, ""
        finally:
            lib.pcap_freecode(ctypes.byref(program))
    finally:
        lib.pcap_close(handle)


def compile_error(expression: str, dlt: int) -> str | None:
    """libpcap's reason for rejecting `expression` on link type `dlt` (e.g. "illegal
    port number 99999 > 65535"); None when it compiles or libpcap is not there."""
    with _compiled(expression, dlt) as compiled:
        return compiled[2] or None if compiled is not None else None


def filter_results(expression: str, frames: list[bytes],
                   dlt: int = DLT_EN10MB) -> list[bool] | None:
    """Whether `expression`, compiled by libpcap for link type `dlt`, keeps each of
    `frames`; None without libpcap or when it does not compile."""
    with _compiled(expression, dlt) as compiled:
        if compiled is None or compiled[1] is None:
            return None
        lib, program, _ = compiled
        kept = []
        for frame in frames:
            header = _Header(_Timeval(0, 0), len(frame), len(frame))
            kept.append(lib.pcap_offline_filter(ctypes.byref(program), ctypes.byref(header),
                                                frame) != 0)
        return kept
