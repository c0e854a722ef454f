"""`flowcheck live` with each real sniffer in network namespaces (new-user trial 15).

tcpdump, dumpcap and scapy run for real: the default capture filter keeps frames whose
802.1Q tag is in the frame (D3); the sniffer's kernel buffer rides out a burst while
flowcheck is busy (D4); scapy applies the capture filter and counts its drops (D5); a
filter libpcap rejects for a reason other than syntax is a usage error with its reason
(D9). Root only (CI runs as root); each test makes and removes its own namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from child_signals import sigint_as_default
from live_process import (
    DUMPCAP,
    ended,
    wait_for_size,
    wait_until_listening,
    wait_until_still,
)

from flowcheck.cli.main import run
from flowcheck.sources.capture_filter import VLAN_FILTER

pytestmark = [pytest.mark.lab, pytest.mark.skipif(
    shutil.which("tcpdump") is None or os.geteuid() != 0, reason="needs tcpdump and root")]

SNIFFERS = ["tcpdump", DUMPCAP, "scapy"]
MEDIA, AGENT, PORT = "10.18.0.1", "10.18.0.2", 7018


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


@pytest.fixture
def tagged_link() -> Iterator[tuple[str, str]]:
    """Namespaces (media, agent) joined by a veth whose frames all carry 802.1Q tag 18,
    the tag in the frame (flowcheck.lab.vlan): media's end is v0, agent's v1."""
    from flowcheck.lab.vlan import tag_link

    media, agent = f"t18-{os.getpid()}-m", f"t18-{os.getpid()}-a"
    for name in (media, agent):
        _ip("netns", "add", name)
        _ip("-n", name, "link", "set", "lo", "up")
    try:
        _ip("link", "add", "v0", "netns", media, "type", "veth", "peer", "name", "v1",
            "netns", agent)
        for name, ifname, address in ((media, "v0", MEDIA), (agent, "v1", AGENT)):
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", ifname)
            _ip("-n", name, "link", "set", ifname, "up")
            # Without VLAN offload the sent frames carry the tag in their bytes.
            subprocess.run(["ip", "netns", "exec", name, "ethtool", "-K", ifname, "txvlan",
                            "off"], check=False, capture_output=True)
        tag_link([(media, "v0"), (agent, "v1")], 18)
        yield media, agent
    finally:
        for name in (media, agent):
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace of its own with its loopback up: nothing else sends there."""
    name = f"t18-{os.getpid()}-lo"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


def _in(namespace: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv]


def _start_live(namespace: str, interface: str, *options: str) -> subprocess.Popen:
    """`flowcheck live --format json` in the namespace, once its sniffer listens (its
    --write file holds the capture header: docs/cli.md; a file of its own when the
    options name none)."""
    if "--write" not in options:
        options = (*options, "--write", str(Path(tempfile.mkdtemp(prefix="t18-")) / "w.pcap"))
    written = Path(options[options.index("--write") + 1])
    process = subprocess.Popen(
        _in(namespace, sys.executable, "-m", "flowcheck", "live", "-i", interface,
            "--format", "json", *options),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=sigint_as_default)  # stopped by SIGINT however pytest was started
    try:
        wait_until_listening(process, written)
    except AssertionError:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return process


def _report(process: subprocess.Popen) -> dict:
    """Stop live (Ctrl-C) and return its final JSON report."""
    os.killpg(process.pid, signal.SIGINT)
    _code, out, err = ended(process)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert lines and lines[-1]["event"] == "report", err
    return lines[-1]


_SERVER = ("import socket,sys\n"
           "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
           "s.bind((sys.argv[1],int(sys.argv[2])));s.listen();print('ready',flush=True)\n"
           "c,_=s.accept()\n"
           "while c.recv(1<<20):pass\n"
           "c.close()\n")
_CLIENT = ("import socket,sys\n"
           "c=socket.create_connection((sys.argv[1],int(sys.argv[2])))\n"
           "c.sendall(b'x'*int(sys.argv[3]));c.shutdown(socket.SHUT_WR);c.recv(1);c.close()\n")


def _transfer(server_ns: str, client_ns: str, address: str, size: int,
              port: int = PORT) -> None:
    """Send size bytes from client_ns to a listener at address in server_ns, to the end
    (the receiver closes once it has all)."""
    server = subprocess.Popen(_in(server_ns, sys.executable, "-c", _SERVER, address,
                                  str(port)), stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        subprocess.run(_in(client_ns, sys.executable, "-c", _CLIENT, address, str(port),
                           str(size)), check=True, timeout=60)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _connection(report: dict, port: int = PORT) -> dict | None:
    found = [c for c in report["connections"] if c["resp_p"] == port]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.mark.parametrize("sniffer", SNIFFERS)
def test_default_filter_keeps_both_directions_of_a_tagged_link(
        sniffer: str, tagged_link: tuple[str, str], tmp_path: Path) -> None:
    """Trial 15 D3: with `tcp or icmp or icmp6`, the frames sent on v0 (the tag in the
    frame) were filtered out: one direction only, capture_one_direction."""
    media, agent = tagged_link
    saved = tmp_path / "tagged.pcap"
    live = _start_live(media, "v0", "--sniffer", sniffer, "--write", str(saved))
    try:
        _transfer(agent, media, AGENT, 20_000)
    finally:
        wait_for_size(saved, 20_000)
        report = _report(live)
    conn = _connection(report)
    assert conn is not None, report["connections"]
    assert conn["orig_bytes"] == 20_000 and conn["resp_pkts"] > 0
    assert "F" in conn["history"] and "f" in conn["history"]
    assert not [f for f in report["findings"] if f["code"] == "capture_one_direction"]


def test_default_filter_matches_tcp_in_two_tags(tmp_path: Path) -> None:
    """QinQ (802.1ad): TCP and ARP under two tags pass the default filter, DNS under
    them not."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import ARP, Dot1Q, Ether
    from scapy.utils import wrpcap

    path = tmp_path / "qinq.pcap"
    wrpcap(str(path), [Ether() / Dot1Q(vlan=100) / Dot1Q(vlan=18) / IP() / TCP(),
                       Ether() / Dot1Q(vlan=100) / Dot1Q(vlan=18) / IP() / UDP(dport=53),
                       Ether() / Dot1Q(vlan=100) / Dot1Q(vlan=18) / ARP(),
                       Ether() / Dot1Q(vlan=18) / IP() / TCP(), Ether() / IP() / TCP()])
    kept = subprocess.run(["tcpdump", "-r", str(path), "-n", VLAN_FILTER],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(kept) == 4 and sum("ARP" in line for line in kept) == 1, kept
    assert not any(".53:" in line or "domain" in line for line in kept), kept


_PORT_REASON = "illegal port number 99999 > 65535"
_VLAN_REASON = "VLAN tag 5000 greater than maximum 4095"


@pytest.mark.parametrize(("sniffer", "capture_filter", "reason"), [
    ("tcpdump", "port 99999", _PORT_REASON),
    pytest.param("dumpcap", "port 99999", _PORT_REASON, marks=DUMPCAP.marks),
    ("scapy", "port 99999", _PORT_REASON), ("tcpdump", "vlan 5000", _VLAN_REASON),
    pytest.param("dumpcap", "vlan 5000", _VLAN_REASON, marks=DUMPCAP.marks),
    ("scapy", "tcp and", "syntax error")])
def test_a_filter_libpcap_rejects_is_a_usage_error(
        sniffer: str, capture_filter: str, reason: str,
        capfd: pytest.CaptureFixture[str]) -> None:
    """Trial 15 D9: dumpcap's reason was lost ("Capturing on 'Loopback: lo'") and both
    tools' rejections other than syntax were exit 3; scapy ignored the filter (D5).
    In this process: the filter is refused before any capture; capfd reads standard
    error as a process's would be (the sniffer's own lines too). Real live processes:
    the other tests here."""
    code = run(["live", "-i", "lo", "--duration", "1", "--sniffer", sniffer,
                "--capture-filter", capture_filter])
    err = capfd.readouterr().err
    assert code == 2, err
    [line] = err.splitlines()
    assert line.startswith(f"flowcheck: error: {sniffer} on lo: invalid capture filter "
                           f"{capture_filter!r}: ") and reason in line, line


def test_scapy_applies_the_capture_filter(namespace: str, tmp_path: Path) -> None:
    """Trial 15 D5: --capture-filter was silently ignored with --sniffer scapy. Of two
    transfers, the filter keeps the second: once it is in, the first was seen too."""
    saved = tmp_path / "filtered.pcap"
    live = _start_live(namespace, "lo", "--sniffer", "scapy", "--write", str(saved),
                       "--capture-filter", f"tcp port {PORT + 1}")
    try:
        _transfer(namespace, namespace, "127.0.0.1", 10_000)
        _transfer(namespace, namespace, "127.0.0.1", 10_000, port=PORT + 1)
    finally:
        wait_for_size(saved, 10_000)
        report = _report(live)
    assert _connection(report) is None
    assert _connection(report, PORT + 1) is not None


@pytest.mark.parametrize("sniffer", ["tcpdump", DUMPCAP])
def test_the_sniffers_buffer_holds_a_burst_while_flowcheck_is_busy(
        sniffer: str, namespace: str, tmp_path: Path) -> None:
    """Trial 15 D4: live's tcpdump had libpcap's default 2 MiB kernel buffer; a burst
    while flowcheck was busy (here: stopped) was dropped by the kernel. 8 MiB fit."""
    saved = tmp_path / "burst.pcap"
    live = _start_live(namespace, "lo", "--sniffer", sniffer, "--capture-filter",
                       f"tcp port {PORT}", "--write", str(saved))
    os.killpg(live.pid, signal.SIGSTOP)  # flowcheck and its sniffer alike stop reading
    try:
        _transfer(namespace, namespace, "127.0.0.1", 8 << 20)
    finally:
        os.killpg(live.pid, signal.SIGCONT)
        wait_for_size(saved, 8 << 20)
        wait_until_still(saved)  # its FINs too, on a loaded machine
        report = _report(live)
    assert report["captures"][0]["kernel_dropped"] == 0
    conn = _connection(report)
    # Loopback may resend part of a burst: at least every byte, none missed.
    assert conn is not None and conn["orig_bytes"] >= 8 << 20, conn
    assert conn["missed_bytes"] == 0 and conn["gaps"] == 0 and "f" in conn["history"]


def test_scapy_counts_the_packets_its_socket_dropped(namespace: str) -> None:
    """Trial 15 D5: scapy's loss was not counted (kernel_dropped null). A 1 MiB socket
    buffer, flowcheck stopped during a 16 MiB transfer: the kernel drops, live says so."""
    live = _start_live(namespace, "lo", "--sniffer", "scapy", "--buffer", "1",
                       "--capture-filter", f"tcp port {PORT}")
    os.kill(live.pid, signal.SIGSTOP)
    try:
        _transfer(namespace, namespace, "127.0.0.1", 16 << 20)
    finally:
        os.kill(live.pid, signal.SIGCONT)
        report = _report(live)
    dropped = report["captures"][0]["kernel_dropped"]
    assert dropped > 0
    [loss] = [f for f in report["findings"] if f["code"] == "capture_loss"]
    assert f"{dropped:,} packets dropped by the kernel" in loss["message"]
