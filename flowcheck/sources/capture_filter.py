"""Capture filters for `live`: the default for an interface, and libpcap's verdict on one.

The default keeps TCP and ICMP (the evidence of a refusal), on Ethernet ARP (an agent
that is down: its ARP requests unanswered), and the tunnels flowcheck
decodes (flowcheck.decode.tunnels: VXLAN on UDP 4789 and 8472, VXLAN-GPE on 4790, Geneve
on 6081, GRE with ERSPAN, IP in IP and IPv6 in IP, over IPv4 or IPv6: on a VXLAN underlay
or an ERSPAN collector port `tcp` alone threw the job away, trial 22 D2), also inside
one or two 802.1Q tags on an Ethernet link: a frame whose tag is in the frame (outgoing
on a link without VLAN offload, or any frame on a trunk) matches `tcp` only after
`vlan`, which moves libpcap's offsets past the tag for the rest of the expression
(pcap-filter(7), "vlan"; on Linux, libpcap also matches a tag the kernel holds as
metadata). libpcap has no `vlan` for other link types (the cooked "any" interface: "no
VLAN support for Linux cooked"): there the plain filter is the default.

libpcap (tcpdump's and dumpcap's, the library scapy also compiles with) is asked through
flowcheck.bpf, on a "dead" handle of the interface's link type.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.bpf import DLT_EN10MB, DLT_LINUX_SLL, DLT_RAW, compile_error, libpcap

TCP_FILTER = "tcp or icmp or icmp6"
# libpcap's `udp port` and `proto` cover IPv4 and IPv6 alike.
TUNNEL_FILTER = "udp port 4789 or udp port 8472 or udp port 4790 or udp port 6081 or " \
    "proto 47 or proto 4 or proto 41"
PLAIN_FILTER = f"{TCP_FILTER} or {TUNNEL_FILTER}"


def plain_filter(udp_ports: tuple[int, ...] = ()) -> str:
    """PLAIN_FILTER, also keeping these UDP ports (--vxlan-port, --geneve-port)."""
    return " or ".join([PLAIN_FILTER, *(f"udp port {port}" for port in udp_ports)])


def vlan_filter(udp_ports: tuple[int, ...] = ()) -> str:
    """plain_filter and ARP (the media server's requests for an agent that is down:
    agent_unreachable), also under one 802.1Q tag, or two (QinQ, 802.1ad): each `vlan`
    moves the offsets 4 bytes further. For an Ethernet link only: libpcap's `arp` needs
    a link-layer type field (no raw IP link has one)."""
    plain = f"{plain_filter(udp_ports)} or arp"
    return f"{plain} or (vlan and ({plain} or (vlan and ({plain}))))"


VLAN_FILTER = vlan_filter()

_ARPHRD_ETHER = 1  # /sys/class/net/IFACE/type, <linux/if_arp.h>
_ARPHRD_LOOPBACK = 772
_ARPHRD_NONE = 65534  # tun devices: raw IP
# libpcap's link type for the dead handle of each.
_DLT_OF_ARPHRD = {_ARPHRD_ETHER: DLT_EN10MB, _ARPHRD_LOOPBACK: DLT_EN10MB,
                  _ARPHRD_NONE: DLT_RAW}


def arphrd(interface: str) -> int | None:
    """The interface's ARPHRD_* link type (Linux sysfs); None when it has none there
    (missing, "any", another system)."""
    try:
        return int((Path("/sys/class/net") / interface / "type").read_text().strip())
    except (OSError, ValueError):
        return None


def default_filter(interface: str, udp_ports: tuple[int, ...] = ()) -> str:
    """vlan_filter on an Ethernet interface, else plain_filter; udp_ports: the tunnel
    ports named besides the standard ones (--vxlan-port, --geneve-port)."""
    if arphrd(interface) == _ARPHRD_ETHER:
        return vlan_filter(udp_ports)
    return plain_filter(udp_ports)


def _dlt(interface: str) -> int | None:
    if interface == "any":
        return DLT_LINUX_SLL
    kind = arphrd(interface)
    return _DLT_OF_ARPHRD.get(kind) if kind is not None else None


def can_compile() -> bool:
    """Whether libpcap is there to compile filters (scapy needs it for a filter)."""
    return libpcap() is not None


def filter_error(expression: str, interface: str) -> str | None:
    """libpcap's reason for rejecting `expression` on the interface's link type (e.g.
    "illegal port number 99999 > 65535", "can't parse filter expression: syntax
    error"); None when it compiles, or when it cannot be told (no libpcap, a link
    type not known here)."""
    dlt = _dlt(interface)
    if dlt is None or not expression:
        return None
    return compile_error(expression, dlt)
