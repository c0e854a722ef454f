"""Encapsulations flowcheck knows by name but does not read (field check trial 36 D3, D4).

A job mirrored or carried inside one of these reads as traffic that is not TCP: PBB's
frames as "ethertype 0x88e7, not IP", GTP-U's as "UDP on port 2152". Named, the words
can say what the capture holds (the job may be inside them) instead of "the sniffer saw
none of the job's traffic", and a direction the capture seems to lack may be among them
(flowcheck.verify.capture_contents). Matched on the
packets the decoder skipped (decode.skipped): by Ethernet ethertype after the MAC
addresses and up to two VLAN tags, by IP protocol, and by the lower UDP port of the two
(the service's: a reply to an ephemeral port that happens to be 37008 is not TZSP).
"""

from __future__ import annotations

import numpy as np

from flowcheck.decode.gather import Gather
from flowcheck.fields_dataclass import fields_dataclass


@fields_dataclass(frozen=True, slots=True)
class Encapsulation:
    """name: short, as the words list it ("PBB"); what: the standard and its mark, after
    the name ("802.1ah provider backbone bridging, MAC-in-MAC, ethertype 0x88e7");
    encrypted: its payload cannot be read even where it is decoded."""

    name: str
    what: str
    encrypted: bool = False


ETHERTYPES = {
    0x88E7: Encapsulation("PBB", "802.1ah provider backbone bridging, MAC-in-MAC, "
                          "ethertype 0x88e7"),
    0x88E5: Encapsulation("MACsec", "802.1AE, ethertype 0x88e5", encrypted=True),
    0x894F: Encapsulation("NSH", "network service header, RFC 8300, ethertype 0x894f"),
}
PROTOCOLS = {
    115: Encapsulation("L2TPv3", "over IP, RFC 3931, IP protocol 115"),
}
UDP_PORTS = {
    2152: Encapsulation("GTP-U", "the 3GPP user-plane tunnel, TS 29.281, UDP port 2152"),
    37008: Encapsulation("TZSP", "a remote sniffer's stream, UDP port 37008"),
    1701: Encapsulation("L2TP", "over UDP, RFC 2661 and 3931, UDP port 1701"),
    4754: Encapsulation("GRE-in-UDP", "RFC 8086, UDP port 4754"),
    6635: Encapsulation("MPLS-in-UDP", "RFC 7510, UDP port 6635"),
}
BY_NAME = {e.name: e for e in (*ETHERTYPES.values(), *PROTOCOLS.values(),
                               *UDP_PORTS.values())}
IPPROTO_UDP = 17


def by_ip(gather: Gather, rows: np.ndarray, proto: np.ndarray,
          l4: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(name, the rows it holds) per encapsulation found among IP packets that are not
    TCP (rows: their positions; proto, l4: their IP protocol and layer-4 offset)."""
    found = [(e.name, rows[proto == number]) for number, e in PROTOCOLS.items()]
    udp = (proto == IPPROTO_UDP) & (l4 + 4 <= gather.caplen[rows])
    if udp.any():
        at = rows[udp]
        port = np.minimum(gather.be(l4[udp], 2, at), gather.be(l4[udp] + 2, 2, at))
        found += [(e.name, at[port == number]) for number, e in UDP_PORTS.items()]
    return [(name, hit) for name, hit in found if hit.size]


def by_ethertype(rows: np.ndarray, ethertype: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(name, the rows it holds) per encapsulation found among Ethernet frames that are
    not IP (ethertype: each one's, after its VLAN tags)."""
    found = [(e.name, rows[ethertype == number]) for number, e in ETHERTYPES.items()]
    return [(name, hit) for name, hit in found if hit.size]
