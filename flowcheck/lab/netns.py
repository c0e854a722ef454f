"""Network namespace harness: two hosts joined by veth pairs, fault rules, tcpdump.

Every name starts with "fc<pid>-<n>" so parallel runs never collide and a later run can
remove what a killed run left behind (cleanup_stale). Interfaces are created directly
inside their namespaces, so their short names never clash in the root namespace.
"""

from __future__ import annotations

import itertools
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import field
from pathlib import Path

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.lab.last_packets import LIMIT, POLL, wait_for_last_packets
from flowcheck.lab.shell import LabError, run
from flowcheck.lab.vlan import tag_link

PortRange = tuple[int, int]
NAME_PREFIX = "fc"
_counter = itertools.count(1)
_STALE_NAME = re.compile(r"^fc(\d+)-\d+-[ma]$")


@fields_dataclass(slots=True)
class Link:
    """One veth pair: M's end and A's end, with their addresses (/24)."""

    media_if: str
    agent_if: str
    media_ip: str
    agent_ip: str


@fields_dataclass(slots=True)
class Lab:
    media_ns: str
    agent_ns: str
    links: list[Link] = field(default_factory=list)

    @property
    def backup_link(self) -> Link:
        return self.links[0]

    def exec_argv(self, host: str, argv: Sequence[str]) -> list[str]:
        """argv run inside the media ("m") or agent ("a") namespace."""
        namespace = self.media_ns if host == "m" else self.agent_ns
        return ["ip", "netns", "exec", namespace, *argv]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_namespaces() -> list[str]:
    output = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in output.splitlines() if line.strip()]


def cleanup_stale() -> list[str]:
    """Delete fc* namespaces whose creating process is gone; returns their names."""
    removed = []
    for name in list_namespaces():
        match = _STALE_NAME.match(name)
        if match and not _alive(int(match.group(1))):
            _delete_namespace(name)
            removed.append(name)
    return removed


def _set_port_range(namespace: str, port_range: PortRange) -> None:
    low, high = port_range
    # Written through /proc rather than sysctl(8): procps is not on a minimal Debian.
    run(["ip", "netns", "exec", namespace, "sh", "-c",
         f"echo '{low} {high}' > /proc/sys/net/ipv4/ip_local_port_range"])


def _offloads_off(namespace: str, ifname: str, *extra: str) -> None:
    # Offloads off so tcpdump sees wire-sized segments with real checksums.
    run(["ip", "netns", "exec", namespace, "ethtool", "-K", ifname,
         "tso", "off", "gso", "off", "gro", "off", "tx", "off", *extra], check=False)


def _add_link(lab: Lab, index: int, media_ip: str, agent_ip: str,
              vlan: int | None = None) -> Link:
    """A veth pair m<index>/a<index>. With `vlan`, transmit VLAN offload is off, so a tag
    pushed by flowcheck.lab.vlan is written into the frame itself."""
    link = Link(f"m{index}", f"a{index}", media_ip, agent_ip)
    run(["ip", "link", "add", link.media_if, "netns", lab.media_ns, "type", "veth",
         "peer", "name", link.agent_if, "netns", lab.agent_ns])
    for namespace, ifname, address in ((lab.media_ns, link.media_if, media_ip),
                                       (lab.agent_ns, link.agent_if, agent_ip)):
        run(["ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", ifname])
        run(["ip", "-n", namespace, "link", "set", ifname, "up"])
        _offloads_off(namespace, ifname, *(("txvlan", "off") if vlan is not None else ()))
    lab.links.append(link)
    return link


def create_lab(media_range: PortRange = (5001, 5100), agent_range: PortRange = (6001, 6100),
               *, second_network: bool = False, vlan: int | None = None,
               prefix: str | None = None) -> Lab:
    """Namespaces M (10.77.0.1) and A (10.77.0.2); optionally 10.78.0.0/24 as well.

    With `vlan`, the backup link's frames carry that 802.1Q tag (flowcheck.lab.vlan).
    `prefix` names the namespaces in place of NAME_PREFIX (the fault matrix's, a test's:
    cleanup_stale leaves them alone)."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, tcpdump)")
    cleanup_stale()
    stem = f"{prefix or NAME_PREFIX}{os.getpid()}-{next(_counter)}"
    lab = Lab(media_ns=f"{stem}-m", agent_ns=f"{stem}-a")
    try:
        for namespace in (lab.media_ns, lab.agent_ns):
            run(["ip", "netns", "add", namespace])
            run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        _add_link(lab, 0, "10.77.0.1", "10.77.0.2", vlan)
        if second_network:
            _add_link(lab, 1, "10.78.0.1", "10.78.0.2")
        if vlan is not None:
            link = lab.backup_link
            tag_link([(lab.media_ns, link.media_if), (lab.agent_ns, link.agent_if)], vlan)
        _set_port_range(lab.media_ns, media_range)
        _set_port_range(lab.agent_ns, agent_range)
    except BaseException:
        destroy_lab(lab)
        raise
    return lab


def _stop_processes_in(namespace: str) -> None:
    """Our own leftovers (a peer or tcpdump of an interrupted run), by pid."""
    pids = run(["ip", "netns", "pids", namespace], check=False).stdout.split()
    for pid in pids:
        with suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _delete_namespace(namespace: str) -> None:
    # Deleting a namespace deletes its veth ends and nftables tables with it; a process
    # still inside would keep it alive, so those go first.
    _stop_processes_in(namespace)
    run(["ip", "netns", "del", namespace], check=False)


def destroy_lab(lab: Lab) -> None:
    for namespace in (lab.media_ns, lab.agent_ns):
        _delete_namespace(namespace)


@contextmanager
def lab_network(media_range: PortRange = (5001, 5100), agent_range: PortRange = (6001, 6100),
                *, second_network: bool = False, vlan: int | None = None,
                prefix: str | None = None) -> Iterator[Lab]:
    lab = create_lab(media_range, agent_range, second_network=second_network, vlan=vlan,
                     prefix=prefix)
    try:
        yield lab
    finally:
        destroy_lab(lab)


def apply_nft(lab: Lab, host: str, ruleset: str) -> None:
    """Load an nftables ruleset (text for `nft -f -`) inside one namespace."""
    run(lab.exec_argv(host, ["nft", "-f", "-"]), input_text=ruleset)


# Capture tools (Scenario.capture_tool): how the one capture of M's backup link is made.
CAPTURE_TOOLS = ("tcpdump", "tcpdump-any", "tcpdump-ring", "dumpcap")
RING_FILE_MEGABYTES = 1  # tcpdump -C: millions of bytes per ring file
RING_FILES = 10  # tcpdump -W


class _Tcpdump:
    """One tcpdump on one interface of M's namespace (host "m"; "a": A's).

    `extra` adds options: `-y LINUX_SLL2` on the "any" pseudo-interface, `-C 1 -W 10`
    for a ring buffer (files PATH0, PATH1, ...).
    """

    started = "listening on"
    tool = "tcpdump"
    # What tcpdump prints on SIGUSR1, while it runs (its counts at the end: a line each).
    _COUNTS = re.compile(r"(\d+) packets? captured, (\d+) packets? received by filter, "
                         r"(\d+) packets? dropped by kernel")

    def __init__(self, lab: Lab, interface: str, path: Path, packet_filter: str,
                 extra: Sequence[str] = (), host: str = "m") -> None:
        self.process = subprocess.Popen(
            lab.exec_argv(host, self.argv(interface, path, packet_filter, extra)),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if not self._await_start():
            self.stop()
            raise LabError(f"{self.tool} on {interface} did not start")

    def _await_start(self) -> bool:
        """Read the tool's text stderr (10 s at most) until its `started` line; False if
        it never came."""
        assert self.process.stderr is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            if self.started in line:
                return True
        return False

    @staticmethod
    def argv(interface: str, path: Path, packet_filter: str, extra: Sequence[str]) -> list[str]:
        # --immediate-mode: without it the kernel hands packets over in blocks, and the
        # last block of a short run is lost when tcpdump is stopped.
        return ["tcpdump", "-i", interface, "-s", "0", "-U", "--immediate-mode",
                "-B", "16384", "-n", "-Z", "root", *extra, "-w", str(path), packet_filter]

    def wait_written(self, deadline: float, started: float) -> None:
        """Return once tcpdump has written every packet its filter took (captured +
        dropped by the kernel = received by filter, the counts it prints on SIGUSR1;
        -U writes each one out), or at `deadline` (monotonic s)."""
        while self.process.poll() is None and self.process.stderr is not None:
            self.process.send_signal(signal.SIGUSR1)
            counts = None
            while counts is None and time.monotonic() < deadline:
                ready, _, _ = select.select([self.process.stderr], [], [],
                                            deadline - time.monotonic())
                if not ready:
                    break
                line = self.process.stderr.readline()
                if not line:
                    return  # tcpdump has ended
                counts = self._COUNTS.search(line)
            if counts is None:
                return  # no answer in time: stopped as after the old fixed wait
            captured, received, dropped = (int(n) for n in counts.groups())
            if captured + dropped >= received or time.monotonic() >= deadline:
                return
            time.sleep(POLL)

    def _interrupt(self) -> str:
        """SIGINT, so the tool flushes and writes a complete file; returns its stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.stderr.read() if self.process.stderr else ""

    def stop(self) -> int:
        """Stop tcpdump; returns the packets it captured (LabError if it dropped any)."""
        tail = self._interrupt()
        # The last counts: a SIGUSR1's line answered late may come before them.
        dropped = re.findall(r"(\d+) packets? dropped by kernel", tail)
        if dropped and int(dropped[-1]):
            # A capture with holes would make the stored results lie.
            raise LabError(f"tcpdump: {dropped[-1]} packets dropped by kernel")
        captured = re.findall(r"(\d+) packets? captured", tail)
        return int(captured[-1]) if captured else -1


class _Dumpcap(_Tcpdump):
    """Wireshark's dumpcap: pcapng (section, interface description and statistics
    blocks), the capture filter compiled by dumpcap's own libpcap call."""

    # "File: PATH" comes once the interface is open and the file written; "Capturing on"
    # before it, when the capture may not have started (field check 46: a pcapng held
    # only the last FINs of a job that ran 1 s after "Capturing on", under load).
    started = "File: "
    tool = "dumpcap"

    @staticmethod
    def argv(interface: str, path: Path, packet_filter: str, extra: Sequence[str]) -> list[str]:
        return ["dumpcap", "-i", interface, "-s", "0", "-B", "16", "-n", *extra,
                "-f", packet_filter, "-w", str(path)]

    def wait_written(self, deadline: float, started: float) -> None:
        """dumpcap prints no counts while it runs: the rest of the old fixed wait (LIMIT
        seconds from `started`, monotonic)."""
        time.sleep(max(0.0, started + LIMIT - time.monotonic()))

    def stop(self) -> int:
        tail = self._interrupt()
        # "Packets received/dropped on interface 'm0': 123/0 (pcap:0/dumpcap:0/...)"
        counts = re.search(r"received/dropped on interface '[^']*': (\d+)/(\d+)", tail)
        if counts is None:
            raise LabError(f"dumpcap gave no statistics: {tail.strip()[-200:]}")
        if int(counts.group(2)):
            raise LabError(f"dumpcap: {counts.group(2)} packets dropped")
        return int(counts.group(1))


class PacketCapture:
    """tcpdump on M's interfaces (the backup link by default), as one pcap file; with
    host "a", on A's (its loopback "lo", say: what never reaches the wire).

    With several interfaces, one tcpdump runs per interface and mergecap merges the files
    by time: the "any" pseudo-interface dropped packets here under bursts, and a per-veth
    capture keeps the Ethernet link type.
    """

    def __init__(self, lab: Lab, path: Path, interfaces: Sequence[str] | None = None,
                 packet_filter: str = "tcp or icmp", tool: str = "tcpdump",
                 host: str = "m") -> None:
        self.path = path
        self._hosts = (lab.media_ns, lab.agent_ns)
        self._stopped = False
        names = list(interfaces or [lab.backup_link.media_if])
        if tool not in CAPTURE_TOOLS:
            raise LabError(f"unknown capture tool {tool!r}")
        if tool != "tcpdump" and len(names) > 1:
            raise LabError(f"{tool} captures one interface")
        self._parts = [path] if len(names) == 1 else [
            # Parts end in .pcap: AppArmor's tcpdump profile only lets it write *.pcap.
            path.with_name(f"{path.stem}.{name}-part.pcap") for name in names]
        kind: type[_Tcpdump] = _Dumpcap if tool == "dumpcap" else _Tcpdump
        extra: tuple[str, ...] = ()
        if tool == "tcpdump-any":
            names, extra = ["any"], ("-y", "LINUX_SLL2")
        elif tool == "tcpdump-ring":
            extra = ("-C", str(RING_FILE_MEGABYTES), "-W", str(RING_FILES))
        self._dumps: list[_Tcpdump] = []
        try:
            for name, part in zip(names, self._parts, strict=True):
                self._dumps.append(kind(lab, name, part, packet_filter, extra, host))
        except BaseException:
            self._stop_all()
            raise

    def _stop_all(self) -> int:
        total = 0
        errors: list[str] = []
        for dump in self._dumps:
            try:
                total += dump.stop()
            except LabError as exc:
                errors.append(str(exc))
        if errors:
            raise LabError("; ".join(errors))
        return total

    def stop(self) -> int:
        """Stop every tcpdump, merge the parts; returns the packets captured."""
        if self._stopped:
            return -1
        self._stopped = True
        # The last segments (FIN, final ACK) into the capture first.
        wait_for_last_packets(self._hosts, self._dumps)
        try:
            total = self._stop_all()
            if len(self._parts) > 1:
                run(["mergecap", "-F", "pcap", "-w", str(self.path),
                     *[str(part) for part in self._parts]])
        finally:
            if len(self._parts) > 1:
                for part in self._parts:
                    part.unlink(missing_ok=True)
        return total

    def __enter__(self) -> PacketCapture:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
