"""The two peers of Backup Exec's documented sequence, on real blocking sockets.

MediaServer (M, job engine + resident tape agent; flowcheck.lab.media_server) and
RemoteAgent (A; flowcheck.lab.remote_agent) play the TechNote's five steps over NDMP v4
(see docs/lab.md for the message sequence):
1. M binds its job-engine port (media range) and opens the control connection to A:10000;
2. A connects back to the job-engine port it was told in a vendor message (callback);
3. per resource, M sends DATA_LISTEN and A announces its data port (agent range) in the
   reply;
4. M binds the next free media-range port and connects to that endpoint;
5. A sends the backup over it (M sends for a restore), then NOTIFY_DATA_HALTED.
Each role runs inside its own network namespace (python -m flowcheck.lab media|agent).

This module holds what both roles do alike with their sockets: ports taken forward from
their range (PortAllocator), the data connection's stream sent and drained, the log
line; each role's own protocol is in its module.
"""

from __future__ import annotations

import errno
import socket
import sys
import threading
import time

from flowcheck.config import host_address

PortRange = tuple[int, int]
CHUNK = 64 * 1024


def log(role: str, text: str) -> None:
    """One line on stderr, "role: text" (the lab runner keeps each role's stderr)."""
    print(f"{role}: {text}", file=sys.stderr, flush=True)


def payload(size: int) -> bytes:
    """size bytes of a recognisable pattern: the backup image's stand-in."""
    pattern = b"flowcheck lab backup image / "
    return (pattern * (size // len(pattern) + 1))[:size]


def tcp_socket(ip: str) -> socket.socket:
    """A TCP socket of `ip`'s family: IPv6 for an IPv6 address, dual-stack (IPv4 too)
    for "::" (trial 28 D17: the peers were IPv4 only)."""
    if ":" not in ip:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    if ip == "::":
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    return sock


def plain_ip(ip: str) -> str:
    """An address as a socket reports it, an IPv4-mapped one (a dual-stack socket's
    IPv4 peer, ::ffff:10.77.0.1) as the IPv4 address (flowcheck.config.host_address);
    anything that is not an address as given."""
    try:
        return host_address(ip)
    except ValueError:
        return ip


def peer_ip(sock: socket.socket) -> str:
    """The address of `sock`'s peer, a link-local IPv6 one with its zone (fe80::1%eth0,
    from the socket address's scope id): connect() needs the interface to reach it."""
    peer = sock.getpeername()
    if len(peer) == 4 and peer[3] and "%" not in peer[0]:
        return f"{peer[0]}%{socket.if_indextoname(peer[3])}"
    return str(peer[0])


def sockaddr(ip: str, port: int) -> tuple:
    """The socket address connect() takes for `ip` (a zone, fe80::1%eth0, read into the
    scope id by getaddrinfo: connect((text, port)) leaves it out and fails EINVAL)."""
    return socket.getaddrinfo(ip, port, proto=socket.IPPROTO_TCP,
                              flags=socket.AI_NUMERICHOST)[0][4]


def reached(announced: str, peer: str) -> str:
    """Where to connect for an address read from NDMP: the address itself, or for
    0.0.0.0 ("where the control connection came from": all an IPv6 peer can say in
    NDMP v4's IPv4-only TCP address) the control connection's peer. A link-local peer
    keeps its zone (fe80::1%eth0, as the socket reports it): connect() needs the
    interface to reach it (trial 43: without it the callback failed with EINVAL)."""
    if announced != "0.0.0.0":
        return announced
    if "%" in peer and plain_ip(peer).startswith("fe80:"):
        return peer
    return plain_ip(peer)


def wildcard(ip: str) -> str:
    """The any-address of `ip`'s family: "::" (dual-stack) or "0.0.0.0"."""
    return "::" if ":" in ip else "0.0.0.0"


class PortAllocator:
    """The next free port of a range, moving forward (held ports are not reused).

    A new allocator (a new job) starts again at the low end: that is how the lab makes
    the port_reused_within_hold case.
    """

    def __init__(self, port_range: PortRange, *, reuse_address: bool = False) -> None:
        self.low, self.high = port_range
        self.next_port = self.low
        self.reuse_address = reuse_address
        self._lock = threading.Lock()  # concurrent agent sessions share one allocator

    def restart(self) -> None:
        self.next_port = self.low

    def bind(self, ip: str, *, listen: bool) -> socket.socket:
        with self._lock:
            return self._bind(ip, listen=listen)

    def _bind(self, ip: str, *, listen: bool) -> socket.socket:
        for port in range(self.next_port, self.high + 1):
            sock = tcp_socket(ip)
            if listen or self.reuse_address:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((ip, port))
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    continue  # e.g. the kernel gave it to an outgoing connection
                raise
            if listen:
                sock.listen(4)
            self.next_port = port + 1
            return sock
        raise OSError(errno.EADDRNOTAVAIL, f"no free port left in {self.low}-{self.high}")


def receive_all(sock: socket.socket) -> int:
    """Read until the peer closes its side; returns the bytes received."""
    received = 0
    while chunk := sock.recv(CHUNK):
        received += len(chunk)
    return received


def send_and_finish(sock: socket.socket, size: int, delay: float = 0.002) -> None:
    """Send size bytes of payload() in CHUNK pieces, delay seconds after each, then close
    the sending side (FIN)."""
    data = payload(size)
    for start in range(0, size, CHUNK):
        sock.sendall(data[start:start + CHUNK])
        # Paced a little so tcpdump keeps up on a busy 2-core runner (longer pauses keep
        # a data connection open long enough to overlap another job's).
        time.sleep(delay)
    sock.shutdown(socket.SHUT_WR)
