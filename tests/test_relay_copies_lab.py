"""`tcpdump -i any` on a router with a queue: each forwarded packet is captured twice,
as it came in and as it left, the second copy a queueing delay later (trial 30 D4: 0.1 to
209 ms, 931 false retransmissions). flowcheck.connections.relay_copies takes the second
for a copy, not a retransmission; a real retransmission through the router still counts.

Three namespaces: M (10.78.0.1) -- router R (forwarding) -- A (10.78.1.2). R's egress
toward A is a token bucket queue (tc tbf: a bulk transfer fills it, so the egress
copies lag by milliseconds to hundreds of them, as trial 30's router's did). A's
input chain drops one data segment in 150 (after R's capture point), so M really resends
them. In R, tcpdump captures `-i any` (the test's capture: as LINUX_SLL2 and LINUX_SLL,
and dumpcap on both interfaces as pcapng) and `-i r0` (M's side, each packet once: the
truth for the retransmission count) of the same transfer, M sending A 3 MB over one
connection; one transfer for the three tests. Root, namespaces: marked `lab`.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tshark_fork
from cli_json import run_json
from router_lab import routed_namespaces, sh

pytestmark = pytest.mark.lab

M, R_M, R_A, A = "10.78.0.1", "10.78.0.254", "10.78.1.254", "10.78.1.2"
PORT = 5099
BYTES = 3_000_000
BURSTS = 10
SERVER = ("import socket\n"
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          f"s.bind(('{A}', {PORT})); s.listen(1); print('ready', flush=True)\n"
          "c, _ = s.accept()\n"
          "while c.recv(65536): pass\n"
          "c.close()\n")
# In bursts with pauses: R's queue drains in each pause and fills again in the next
# burst, so the egress copies' lag climbs from nothing to hundreds of ms, again and again.
CLIENT = ("import socket, time\n"
          f"c = socket.create_connection(('{A}', {PORT}))\n"
          f"for _ in range({BURSTS}):\n"
          f"    c.sendall(bytes({BYTES // BURSTS})); time.sleep(0.4)\n"
          "c.shutdown(socket.SHUT_WR); c.recv(1); c.close()\n")


LINKS = ("LINUX_SLL2", "LINUX_SLL", "pcapng")  # what `-i any` writes: tcpdump's -y, dumpcap


@pytest.fixture(scope="module")
def routed() -> Iterator[dict[str, str]]:
    """The three namespaces, by host letter, R's queues and A's drops set; deleted
    afterwards. Packets as the wire carries them (as trial 30's lab): no GRO on the way in
    (the ingress copy one super-packet, the egress ones segments), no offload."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    for tool in ("tcpdump", "tc", "nft", "tshark", "ethtool", "dumpcap"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    with routed_namespaces(f"fcrc{os.getpid()}", M, R_M, R_A, A,
                           offloads_off=True) as names:
        # The router's queue toward A: a token bucket at a rate the transfer exceeds.
        sh("ip", "netns", "exec", names["r"], "tc", "qdisc", "add", "dev", "r1", "root",
           "tbf", "rate", "8mbit", "burst", "32kbit", "latency", "400ms")
        # Lost after the capture point: A drops one data segment in 150 as it arrives.
        for line in ("add table inet t",
                     "add chain inet t in { type filter hook input priority 0 ; }",
                     f"add rule inet t in tcp dport {PORT} meta length gt 1000 "
                     "numgen inc mod 150 == 77 drop"):
            sh("ip", "netns", "exec", names["a"], "nft", line)
        yield names


@pytest.fixture(scope="module")
def transfer(routed: dict[str, str], tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Path]:
    """One transfer captured in R by every sniffer at once: by link (LINKS) the `-i any`
    capture, and "r0" (M's side, each packet once). A transfer per link type was 6 s of
    bursts and pauses each, the same queue and drops every time."""
    return _transfer(routed, tmp_path_factory.mktemp("relay"))


def _transfer(names: dict[str, str], tmp: Path) -> dict[str, Path]:
    """M sends A BYTES through R, captured in R on any interface (tcpdump's -y LINUX_SLL2
    and LINUX_SLL; dumpcap on r0 and r1: pcapng) and on r0: the captures by link, r0's
    as "r0"."""
    files = {link: tmp / f"r.any.{link}.pcap" for link in LINKS[:2]}
    files["pcapng"] = tmp / "r.any.pcapng"
    files["r0"] = tmp / "r.r0.pcap"
    tcpdump = ["ip", "netns", "exec", names["r"], "tcpdump", "-n", "-U", "--immediate-mode",
               "-s", "128", "-B", "8192"]
    argvs = [*([*tcpdump, "-i", "any", "-y", link, "-w", str(files[link]), "tcp"]
               for link in LINKS[:2]),
             [*tcpdump, "-i", "r0", "-w", str(files["r0"]), "tcp"],
             # dumpcap: one pcapng interface per router interface
             ["ip", "netns", "exec", names["r"], "dumpcap", "-q", "-s", "128", "-i", "r0",
              "-i", "r1", "-f", "tcp", "-w", str(files["pcapng"])]]
    sniffers = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for argv in argvs]
    server = subprocess.Popen(["ip", "netns", "exec", names["a"], sys.executable, "-c",
                               SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        for sniffer in sniffers:  # each listening: tcpdump's line, dumpcap's file
            _await_line(sniffer, "File: " if sniffer is sniffers[-1] else "listening on")
        subprocess.run(["ip", "netns", "exec", names["m"], sys.executable, "-c", CLIENT],
                       check=True, timeout=120)
        server.wait(timeout=30)
        time.sleep(0.5)
    finally:
        server.kill()
        for sniffer in sniffers:
            sniffer.terminate()
            sniffer.wait(timeout=10)
    for sniffer in sniffers[:-1]:  # tcpdump's
        assert sniffer.stderr is not None
        stats = sniffer.stderr.read()
        assert "\n0 packets dropped by kernel" in stats, stats  # the counts compare
    return files


def _await_line(sniffer: subprocess.Popen, words: str) -> None:
    """Read the sniffer's text stderr until a line with `words` (tcpdump's "listening
    on" once it captures; dumpcap's "File: " once its interfaces are open and its file
    written: its "Capturing on" comes before, as flowcheck.lab.netns waits for them);
    fails if the sniffer ends first or says nothing of it within 30 s."""
    assert sniffer.stderr is not None
    stderr, lines, found = sniffer.stderr, [], threading.Event()

    def read() -> None:  # on a thread: readline has no timeout of its own
        while line := stderr.readline():
            lines.append(line)
            if words in line:
                found.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)
    if not found.is_set():
        why = "ended" if not reader.is_alive() else "said nothing of it in 30 s"
        pytest.fail(f"the sniffer {why} before {words!r}: {''.join(lines)[-500:]}")


@functools.cache  # r0's capture: the truth of all three tests
def _connections(capture: Path) -> dict:
    return run_json("connections", str(capture), "--format", "json", exit_codes=(0,))


def _lags(capture: Path) -> list[float]:
    """Per packet captured twice (same IPv4 ID and TCP sequence number, the TTL one lower
    the second time), the seconds between its two copies."""
    first: dict[tuple[str, str], tuple[float, int]] = {}
    lags = []
    for when, ip_id, seq, ttl in tshark_fork.fields(capture, "", "frame.time_epoch", "ip.id",
                                                    "tcp.seq_raw", "ip.ttl"):
        if not ttl:  # not an IPv4 TCP packet
            continue
        key = (ip_id, seq)
        if key in first and first[key][1] == int(ttl) + 1:
            lags.append(float(when) - first.pop(key)[0])
        else:
            first[key] = (float(when), int(ttl))
    return lags


@pytest.mark.parametrize("link", LINKS)
def test_router_any_capture_copies_are_no_retransmissions(
        link: str, transfer: dict[str, Path]) -> None:
    anyfile, r0file = transfer[link], transfer["r0"]
    lags = _lags(anyfile)
    # The premise: the capture holds every forwarded packet twice, the egress copies
    # queued well beyond a capture point's own copies (0.5 ms).
    assert len(lags) > 1000 and max(lags) > 0.005
    seen, truth = _connections(anyfile), _connections(r0file)
    (data,) = [c for c in seen["connections"] if c["resp_p"] == PORT]
    (once,) = [c for c in truth["connections"] if c["resp_p"] == PORT]
    assert once["retransmits"] > 0  # A's drops made M resend
    assert data["retransmits"] == once["retransmits"]
    assert data["syn_retries"] == once["syn_retries"] == 0
    # Every packet counts (tshark's counts, copies included: twice, but for the ones the
    # queue dropped), and none is missing from the data.
    assert once["orig_pkts"] < data["orig_pkts"] <= 2 * once["orig_pkts"]
    assert data["missed_bytes"] == once["missed_bytes"] == 0
    assert "capture_duplicates" in {f["code"] for f in seen["findings"]}
