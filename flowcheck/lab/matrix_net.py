"""The fault matrix's networks and captures by the run's axes (flowcheck.lab.matrix_axes):
M -- R -- A routed or one segment, IPv6 addresses beside the IPv4 ones (dual-stack
hosts), A's second agent address, and the capture at the run's point written as the
run's link type (Ethernet pcap, Linux cooked SLL/SLL2 from `-i any`, dumpcap's pcapng).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flowcheck.lab import netns
from flowcheck.lab.matrix_axes import hosts
from flowcheck.lab.netns import Lab, Link, _Dumpcap, _Tcpdump
from flowcheck.lab.scenarios import Scenario

# Capture points: (host, interface) per point; "r" is the router's side toward M.
POINT_IFACES = {"m": [("m", "m0")], "a": [("a", "a0")], "both": [("m", "m0"), ("a", "a0")],
                "r": [("r", "r0")]}
FORM_OPTIONS = {"snap96": ("-s", "96"), "snap128": ("-s", "128"), "dir-in": ("-Q", "in"),
                "dir-out": ("-Q", "out")}
# dumpcap has no -Q, and libpcap's `inbound` / `outbound` in its capture filter lost the
# capture's first second or so (seeds 91-93: a job's opening missing from a pcapng): the
# packets of the ring's first blocks are filtered in userland, where the direction test
# (a kernel-only ancillary load) fails. The direction forms are taken with tcpdump -Q and
# written as pcapng by editcap (run["pcapng_by"]).
DIRECTION_FORMS = ("dir-in", "dir-out")
COOKED = {"sll2": "LINUX_SLL2", "sll": "LINUX_SLL"}


def _addr(ns: str, ifname: str, address: str) -> None:
    """`address` (with its prefix) on `ifname`; IPv6 without duplicate address detection
    (a tentative address would refuse the job's first connections)."""
    netns.run(["ip", "-n", ns, "addr", "add", address, "dev", ifname,
               *(("nodad",) if ":" in address else ())])


def _add_namespaces(names: dict[str, str]) -> None:
    """The namespaces `names` (host -> namespace), each with its loopback up."""
    for name in names.values():
        netns.run(["ip", "netns", "add", name])
        netns.run(["ip", "-n", name, "link", "set", "lo", "up"])


def _link_up(ns: str, ifname: str) -> None:
    """`ifname` up, its offloads off (frames as the wire carries them)."""
    netns.run(["ip", "-n", ns, "link", "set", ifname, "up"])
    netns._offloads_off(ns, ifname)


def _port_ranges(m: str, a: str, scenario: Scenario) -> None:
    """The scenario's dynamic port ranges on M (media) and A (agent)."""
    netns._set_port_range(m, scenario.media_range)
    netns._set_port_range(a, scenario.agent_range)


def _add_veths(m: str, middle: str, a: str) -> None:
    """M's m0 and A's a0, each a veth whose peer (r0, r1) is in the `middle` namespace
    (Routed's router, Bridged's bridge)."""
    netns.run(["ip", "-n", m, "link", "add", "m0", "type", "veth", "peer", "name", "r0",
               "netns", middle])
    netns.run(["ip", "-n", a, "link", "add", "a0", "type", "veth", "peer", "name", "r1",
               "netns", middle])


class Routed:
    """M -- R -- A: 10.77.0.1 / 10.77.0.254 + 10.77.1.254 / 10.77.1.2 (and with `v6`,
    fd77::1 / fd77::fe + fd77:1::fe / fd77:1::2), namespaces <stem>-m, -r, -a; `lab` is
    M and A, `router` R (as a Lab whose both hosts are R)."""

    def __init__(self, scenario: Scenario, stem: str, v6: bool = False) -> None:
        self.ns = {host: f"{stem}-{host}" for host in "mra"}
        run = netns.run
        try:
            _add_namespaces(self.ns)
            m, r, a = self.ns["m"], self.ns["r"], self.ns["a"]
            run(["ip", "netns", "exec", r, "sh", "-c",
                 "echo 1 > /proc/sys/net/ipv4/ip_forward; "
                 "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"])
            _add_veths(m, r, a)
            six = {"m0": "fd77::1/64", "r0": "fd77::fe/64", "r1": "fd77:1::fe/64",
                   "a0": "fd77:1::2/64"}
            for ns, ifname, addr in ((m, "m0", "10.77.0.1"), (r, "r0", "10.77.0.254"),
                                     (r, "r1", "10.77.1.254"), (a, "a0", "10.77.1.2")):
                _addr(ns, ifname, f"{addr}/24")
                if v6:
                    _addr(ns, ifname, six[ifname])
                _link_up(ns, ifname)
            run(["ip", "-n", m, "route", "add", "default", "via", "10.77.0.254"])
            run(["ip", "-n", a, "route", "add", "default", "via", "10.77.1.254"])
            if v6:
                run(["ip", "-n", m, "-6", "route", "add", "default", "via", "fd77::fe"])
                run(["ip", "-n", a, "-6", "route", "add", "default", "via", "fd77:1::fe"])
            _port_ranges(m, a, scenario)
        except BaseException:
            self.close()
            raise
        self.lab = Lab(m, a, [Link("m0", "a0", "10.77.0.1", "10.77.1.2")])
        self.router = Lab(r, r, [])

    def close(self) -> None:
        for name in self.ns.values():
            netns._delete_namespace(name)


class Bridged:
    """M -- B -- A on one segment (10.77.0.1, 10.77.0.2), B a user-space bridge that
    delays each frame (flowcheck.lab.delay_bridge; the run's `bridge_delay_ms`: [toward
    A, toward M], ms): two capture points one TTL apart in time only. Namespaces
    <stem>-m, -b, -a; `lab` is M and A."""

    def __init__(self, scenario: Scenario, stem: str, delays: list[float]) -> None:
        self.ns = {host: f"{stem}-{host}" for host in "mba"}
        self.process: subprocess.Popen | None = None
        run = netns.run
        try:
            _add_namespaces(self.ns)
            m, b, a = self.ns["m"], self.ns["b"], self.ns["a"]
            # The bridge's own IPv6 (router solicitations) would be frames of its own.
            run(["ip", "netns", "exec", b, "sh", "-c",
                 "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
                 "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"])
            _add_veths(m, b, a)
            for ns, ifname in ((m, "m0"), (b, "r0"), (b, "r1"), (a, "a0")):
                if ns != b:
                    _addr(ns, ifname, "10.77.0.1/24" if ns == m else "10.77.0.2/24")
                _link_up(ns, ifname)
            _port_ranges(m, a, scenario)
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", b, sys.executable, "-m", "flowcheck.lab.delay_bridge",
                 "r0", "r1", "--to-second", str(delays[0]), "--to-first", str(delays[1])])
        except BaseException:
            self.close()
            raise
        self.lab = Lab(m, a, [Link("m0", "a0", "10.77.0.1", "10.77.0.2")])

    def close(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        for name in self.ns.values():
            netns._delete_namespace(name)


def add_addresses(run: dict, lab: Lab) -> None:
    """What the run's axes add to the hosts made: IPv6 on one segment (fd77::1, fd77::2:
    the router's are Routed's), A's second agent address (.3) for a second job."""
    family, two = run.get("family", "ipv4"), run.get("jobs", 1) == 2
    v4, v6 = hosts(run, False), hosts(run, True)
    if family != "ipv4" and not run["routed"]:
        _addr(lab.media_ns, "m0", f"{v6['m']}/64")
        _addr(lab.agent_ns, "a0", f"{v6['a']}/64")
    if two:
        _addr(lab.agent_ns, "a0", f"{v4['a2']}/24")
        if family != "ipv4":
            _addr(lab.agent_ns, "a0", f"{v6['a2']}/64")


def start_capture(run: dict, lab: Lab, routed: Routed | None,
                  path: Path) -> tuple[list[_Tcpdump], list[Path]]:
    """The capture(s) at the run's point, as its link type: (the running tools, their
    part files)."""
    link = run.get("link", "ether")
    packet_filter = "tcp or icmp" + (" or icmp6" if run.get("family", "ipv4") != "ipv4"
                                     else "")
    dumps: list[_Tcpdump] = []
    parts: list[Path] = []
    for host, ifname in POINT_IFACES[run["point"]]:
        target = routed.router if host == "r" and routed else lab
        side = "m" if host in ("m", "r") else "a"
        options = FORM_OPTIONS.get(run["form"], ())
        if link == "pcapng" and run["form"] not in DIRECTION_FORMS:
            run["pcapng_by"] = "dumpcap"
            part = path.with_name(f"{path.stem}.{host}-part.pcapng")
            dumps.append(_Dumpcap(target, ifname, part, packet_filter, options, side))
        else:
            part = path.with_name(f"{path.stem}.{host}-part.pcap")
            if link in COOKED:
                ifname, options = "any", (*options, "-y", COOKED[link], "-B", "131072")
            dumps.append(_Tcpdump(target, ifname, part, packet_filter, options, side))
        parts.append(part)
    return dumps, parts


def merge(run: dict, parts: list[Path], path: Path) -> None:
    """The capture's parts as the one file `path` (mergecap: pcapng keeps each part's
    interface)."""
    kind = "pcapng" if run.get("link") == "pcapng" else "pcap"
    if len(parts) == 1 and (kind == "pcap" or parts[0].suffix == ".pcapng"):
        parts[0].replace(path)
        return
    if kind == "pcapng" and run.get("pcapng_by") != "dumpcap":
        run["pcapng_by"] = "editcap"  # mergecap / editcap -F pcapng of tcpdump's parts
    if len(parts) == 1:
        subprocess.run(["editcap", "-F", "pcapng", str(parts[0]), str(path)], check=True)
        parts[0].unlink()
        return
    subprocess.run(["mergecap", "-F", kind, "-w", str(path), *map(str, parts)], check=True)
    if run.get("keep_parts"):  # each point's own file kept beside the merge (RUN.m-part.pcap)
        return
    for part in parts:
        part.unlink()


def capture_name(run: dict) -> str:
    """runNN.pcap, or runNN.pcapng for a pcapng capture."""
    return f"run{run['index']:02d}.{'pcapng' if run.get('link') == 'pcapng' else 'pcap'}"
