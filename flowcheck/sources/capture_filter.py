"""Capture filters for `live`: the default for an interface, and libpcap's verdict on one.

The default keeps TCP and ICMP (the evidence of a refusal), also inside one or two 802.1Q
tags on an Ethernet link: a frame whose tag is in the frame (outgoing on a link without
VLAN offload, or any frame on a trunk) matches `tcp` only after `vlan`, which moves
libpcap's offsets past the tag for the rest of the expression (pcap-filter(7), "vlan";
on Linux, libpcap also matches a tag the kernel holds as metadata). libpcap has no `vlan`
for other link types (the cooked "any" interface: "no VLAN support for Linux cooked"):
there the plain filter is the default.

libpcap (tcpdump's and dumpcap's, the library scapy also compiles with) is asked through
ctypes, on a "dead" handle of the interface's link type: pcap_open_dead, pcap_compile,
pcap_geterr (pcap_compile(3PCAP)).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path

PLAIN_FILTER = "tcp or icmp or icmp6"
# One 802.1Q tag, or two (QinQ, 802.1ad): each `vlan` moves the offsets 4 bytes further.
VLAN_FILTER = (f"{PLAIN_FILTER} or (vlan and ({PLAIN_FILTER} or "
               f"(vlan and ({PLAIN_FILTER}))))")

_ARPHRD_ETHER = 1  # /sys/class/net/IFACE/type, <linux/if_arp.h>
_ARPHRD_LOOPBACK = 772
_ARPHRD_NONE = 65534  # tun devices: raw IP
# libpcap's DLT_* values (pcap/dlt.h) for the dead handle of each.
_DLT_EN10MB, _DLT_RAW, _DLT_LINUX_SLL = 1, 12, 113
_DLT_OF_ARPHRD = {_ARPHRD_ETHER: _DLT_EN10MB, _ARPHRD_LOOPBACK: _DLT_EN10MB,
                  _ARPHRD_NONE: _DLT_RAW}
_SNAPLEN = 262144  # bytes: tcpdump's -s 0
_NETMASK_UNKNOWN = 0xFFFFFFFF  # PCAP_NETMASK_UNKNOWN: only `ip broadcast` needs one


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p)]


def arphrd(interface: str) -> int | None:
    """The interface's ARPHRD_* link type (Linux sysfs); None when it has none there
    (missing, "any", another system)."""
    try:
        return int((Path("/sys/class/net") / interface / "type").read_text().strip())
    except (OSError, ValueError):
        return None


def default_filter(interface: str) -> str:
    """VLAN_FILTER on an Ethernet interface, else PLAIN_FILTER."""
    return VLAN_FILTER if arphrd(interface) == _ARPHRD_ETHER else PLAIN_FILTER


def _dlt(interface: str) -> int | None:
    if interface == "any":
        return _DLT_LINUX_SLL
    kind = arphrd(interface)
    return _DLT_OF_ARPHRD.get(kind) if kind is not None else None


@functools.cache
def _libpcap() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("pcap")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_BpfProgram),
                                 ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    return lib


def can_compile() -> bool:
    """Whether libpcap is there to compile filters (scapy needs it for a filter)."""
    return _libpcap() is not None


def filter_error(expression: str, interface: str) -> str | None:
    """libpcap's reason for rejecting `expression` on the interface's link type (e.g.
    "illegal port number 99999 > 65535", "can't parse filter expression: syntax
    error"); None when it compiles, or when it cannot be told (no libpcap, a link
    type not known here)."""
    lib, dlt = _libpcap(), _dlt(interface)
    if lib is None or dlt is None or not expression:
        return None
    handle = lib.pcap_open_dead(dlt, _SNAPLEN)
    if not handle:
        return None
    try:
        program = _BpfProgram()
        if lib.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1,
                            _NETMASK_UNKNOWN) < 0:
            return (lib.pcap_geterr(handle) or b"invalid filter").decode(errors="replace")
        lib.pcap_freecode(ctypes.byref(program))
        return None
    finally:
        lib.pcap_close(handle)
