"""One connection attempt answered again with a new ISN, captured on the responder's way
only (per_packet.synack_reuses): not a reused 4-tuple.

Linux answers a SYN it still has a request for with the same SYN-ACK, but once the
request has expired (its SYN-ACK retries, net.ipv4.tcp_synack_retries, spent) the same
SYN retransmitted gets a new request and a new ISN, seconds after the responder's last
packet. With the responder's packets only (`tcpdump -Q out` on it, a one-way SPAN port)
each such SYN-ACK read as a new use of the 4-tuple ("1 s of silence before it"): one
attempt whose SYN-ACKs did not reach the connector for a few seconds read as several
half-open connections and the last one, where both directions captured read one
connection and tshark one tcp.stream. A new use's SYN carries a new ISN (RFC 6528: the
ISN clock moves 250,000 a second), so its SYN-ACK answers another SYN. Either way the
responder's bytes count from the ISN the connector took (conn.answers_again): read
against the first ISN, its 2 B answer was a gap of the ISNs' distance (493,887,756 B in
a run) with both directions captured too. Root, namespaces, tcpdump: marked `lab`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tshark_fork
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)

from flowcheck.lab.netns import PacketCapture, apply_nft, lab_network
from flowcheck.lab.shell import run as lab_run

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")]

M, A = "10.77.0.1", "10.77.0.2"
SERVE = """import socket
listener = socket.create_server(("10.77.0.2", 6001))
print("listening", flush=True)
peer, _ = listener.accept()
while peer.recv(65536):
    pass
peer.sendall(b"ok"); peer.close()
"""
CONNECT = """import socket
c = socket.socket(); c.bind(("10.77.0.1", 5002)); c.settimeout(60)
c.connect(("10.77.0.2", 6001)); c.sendall(b"x" * 20000); c.shutdown(socket.SHUT_WR)
c.recv(10); c.close()
"""
# M drops A's SYN-ACKs while this table is loaded.
DROP_SYNACKS = """table inet reanswered {
    chain input { type filter hook input priority 0; tcp flags & (syn | ack) == syn | ack drop; }
}"""


def reanswered(tmp_path: Path) -> Path:
    """M (10.77.0.1:5002) connects to A (10.77.0.2:6001), whose request expires after one
    SYN-ACK retry (about 3 s); M drops A's SYN-ACKs for 8 s, retransmitting its SYN (1,
    3, 7 s: exponential, tcp_syn_linear_timeouts 0), so the SYN of 7 s finds the request
    gone and gets a new ISN, which M takes; 20,000 B to A, "ok" back. Captured on M's
    interface; returns that capture."""
    both = tmp_path / "both.pcap"
    with lab_network(prefix="fcreans") as lab:
        lab_run(lab.exec_argv("a", ["sysctl", "-qw", "net.ipv4.tcp_synack_retries=1"]))
        lab_run(lab.exec_argv("m", ["sysctl", "-qw", "net.ipv4.tcp_syn_linear_timeouts=0"]),
                check=False)  # older kernels: exponential already
        apply_nft(lab, "m", DROP_SYNACKS)
        capture = PacketCapture(lab, both, packet_filter="tcp port 6001")
        server = subprocess.Popen(lab.exec_argv("a", [sys.executable, "-c", SERVE]),
                                  stdout=subprocess.PIPE, text=True)
        client = None
        try:
            assert server.stdout is not None and server.stdout.readline() == "listening\n"
            client = subprocess.Popen(lab.exec_argv("m", [sys.executable, "-c", CONNECT]))
            time.sleep(8)
            lab_run(lab.exec_argv("m", ["nft", "delete", "table", "inet", "reanswered"]))
            assert client.wait(timeout=60) == 0
            assert server.wait(timeout=30) == 0
        finally:
            for peer in (server, client):
                if peer is not None and peer.poll() is None:
                    peer.kill()
                    peer.wait()
        capture.stop()
    return both


def test_a_syn_answered_again_with_a_new_isn_is_one_connection(
        tmp_path: Path, short_everywhere: None) -> None:  # noqa: F811
    both = reanswered(tmp_path)
    out = tmp_path / "agent-out.pcap"
    subprocess.run(["tshark", "-r", str(both), "-Y", f"ip.src=={A}", "-F", "pcap", "-w",
                    str(out)], check=True, capture_output=True)
    # tshark: A's SYN-ACKs carry two ISNs or more, all answering M's one SYN; one stream.
    synacks = {(isn, ack) for flags, isn, ack in tshark_fork.fields(
        out, "", "tcp.flags.str", "tcp.seq_raw", "tcp.ack_raw") if "S" in flags}
    assert len({isn for isn, _ in synacks}) >= 2 and len({ack for _, ack in synacks}) == 1
    for path in (both, out):
        assert {stream for (stream,) in tshark_fork.fields(path, "", "tcp.stream")} == {"0"}
    (two_way,), _ = run(both, 100_000, fast=False)
    assert (two_way.orig_h, two_way.orig_p, two_way.resp_h) == (M, 5002, A)
    # A's bytes from the ISN M took (conn.answers_again): its 2 B, no gap. Read against
    # its first ISN they were a gap of the ISNs' distance (493,887,756 B in a run).
    assert (two_way.resp_bytes, two_way.missed_bytes, two_way.gaps) == (2, 0, 0)
    assert two_way.orig_bytes == 20_000
    for chunk in (1, 5):
        assert run(both, chunk, fast=True)[0] == [two_way], chunk
    # A's packets only: one connection too, on every path (it read one connection for
    # each expired request's SYN-ACKs, "^h", and one for the last).
    (reference,), _ = run(out, 100_000, fast=False)
    assert (reference.orig_h, reference.orig_p, reference.resp_h) == (M, 5002, A)
    assert (reference.orig_pkts, reference.resp_pkts) == (0, two_way.resp_pkts)
    assert reference.orig_acked_unseen == 20_001  # M's bytes and FIN, as A's ACKs say
    assert (reference.resp_bytes, reference.missed_bytes, reference.gaps) == (2, 0, 0)
    for chunk in (1, 5, 100_000):
        connections, _ = run(out, chunk, fast=True)
        assert connections == [reference], chunk
