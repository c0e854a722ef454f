"""flowcheck.lab.last_packets: the lab stops its sniffers once the job's sockets are quiet
and the sniffer has written what it took (it waited a blind 0.5 s). Root, namespaces,
tcpdump: marked `lab`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tshark_fork

from flowcheck.lab.last_packets import talking_sockets, wait_for_last_packets
from flowcheck.lab.netns import PacketCapture, lab_network

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")]

# A connection from A to M's 7000 that stays open until standard input closes, then
# closes (A first: its FIN, M's FIN, the last ACK); "up" once it is established.
SERVE = """import socket, sys
listener = socket.create_server(("10.77.0.1", 7000))
print("listening", flush=True)
peer, _ = listener.accept()
sys.stdin.read(); peer.recv(1); peer.close()
"""
CONNECT = """import socket, sys
c = socket.create_connection(("10.77.0.1", 7000), timeout=10)
print("up", flush=True)
sys.stdin.read(); c.close()
"""


def test_a_connection_talks_until_both_ends_closed_and_its_fins_are_captured(
        tmp_path: Path) -> None:
    with lab_network() as lab:
        assert talking_sockets(lab.media_ns) == talking_sockets(lab.agent_ns) == 0
        capture = PacketCapture(lab, tmp_path / "close.pcap", packet_filter="tcp port 7000")
        server = subprocess.Popen(lab.exec_argv("m", [sys.executable, "-c", SERVE]),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        client = None
        try:
            assert server.stdout is not None and server.stdout.readline() == "listening\n"
            client = subprocess.Popen(lab.exec_argv("a", [sys.executable, "-c", CONNECT]),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True)
            assert client.stdout is not None and client.stdout.readline() == "up\n"
            # The established ends (M's listener is quiet).
            assert (talking_sockets(lab.media_ns), talking_sockets(lab.agent_ns)) == (1, 1)
            for peer in (client, server):
                peer.communicate(input="", timeout=30)
        finally:
            for peer in (server, client):
                if peer is not None and peer.poll() is None:
                    peer.kill()
                    peer.wait()
        wait_for_last_packets((lab.media_ns, lab.agent_ns), [])
        assert talking_sockets(lab.media_ns) == talking_sockets(lab.agent_ns) == 0
        packets = capture.stop()
    # Handshake, both FINs and their ACKs: every segment of the connection is in the file.
    flags = [flag for (flag,) in tshark_fork.fields(tmp_path / "close.pcap", "",
                                                    "tcp.flags.str")]
    assert packets == len(flags) >= 6, flags
    assert sum("F" in f for f in flags) == 2 and "F" not in flags[-1], flags
