"""Three network namespaces for lab tests: M -- router R (forwarding) -- A.

M's veth m0 pairs with R's r0, A's a0 with R's r1; each gets its address (/24) and M and
A route by R. Root only. The tests add their own rules, queues and sysctls.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def sh(*argv: str) -> None:
    """Run argv, raising CalledProcessError (its output captured) when it fails."""
    subprocess.run(argv, check=True, capture_output=True, text=True)


@contextmanager
def routed_namespaces(prefix: str, m: str, r_m: str, r_a: str, a: str,
                      offloads_off: bool = False) -> Iterator[dict[str, str]]:
    """The namespaces `{prefix}m`, `{prefix}r`, `{prefix}a` by host letter, with M at `m`,
    R at `r_m` (M's side) and `r_a` (A's side), A at `a` (IPv4, /24); deleted afterwards.
    offloads_off: no TSO, GSO, GRO nor checksum offload on the four veths, so a capture
    holds packets as a wire would (one segment per packet)."""
    names = {h: f"{prefix}{h}" for h in "mra"}
    try:
        for name in names.values():
            sh("ip", "netns", "add", name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        ns_m, ns_r, ns_a = names["m"], names["r"], names["a"]
        sh("ip", "netns", "exec", ns_r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", ns_m, "link", "add", "m0", "type", "veth", "peer", "name", "r0",
           "netns", ns_r)
        sh("ip", "-n", ns_a, "link", "add", "a0", "type", "veth", "peer", "name", "r1",
           "netns", ns_r)
        for ns, ifname, address in ((ns_m, "m0", m), (ns_r, "r0", r_m), (ns_r, "r1", r_a),
                                    (ns_a, "a0", a)):
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", ifname)
            sh("ip", "-n", ns, "link", "set", ifname, "up")
            if offloads_off:
                subprocess.run(["ip", "netns", "exec", ns, "ethtool", "-K", ifname, "tso",
                                "off", "gso", "off", "gro", "off", "tx", "off"],
                               capture_output=True, check=False)
        sh("ip", "-n", ns_m, "route", "add", "default", "via", r_m)
        sh("ip", "-n", ns_a, "route", "add", "default", "via", r_a)
        yield names
    finally:
        for name in names.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
