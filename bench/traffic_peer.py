"""Both ends of the benchmark's mixed traffic (run inside the lab's namespaces).

    python bench/traffic_peer.py serve --port 7000
    python bench/traffic_peer.py client --host 10.77.0.2 --port 7000 --seconds 25

The client keeps `--connections` connections busy: on each it sends a request of a
random size (1 byte to 6 KB, so anything from a keystroke to a few segments) and reads
a reply whose size the request names (1 byte to 20 KB); one request in 50 closes its
connection and a new one replaces it. TCP_NODELAY on both ends, as interactive
protocols set it: the segments have the sizes the application wrote.
"""

from __future__ import annotations

import argparse
import random
import selectors
import socket
import struct
import sys
import time

HEAD = struct.Struct("!II")  # request body size, reply size


def _nodelay(sock: socket.socket) -> socket.socket:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_exactly(sock: socket.socket, count: int) -> bytes | None:
    chunks = []
    while count:
        chunk = sock.recv(min(count, 65536))
        if not chunk:
            return None
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def serve(port: int) -> None:
    listener = socket.create_server(("0.0.0.0", port), backlog=256)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    print("listening", flush=True)
    filler = bytes(range(256)) * 100
    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            if sock is listener:
                conn, _ = listener.accept()
                selector.register(_nodelay(conn), selectors.EVENT_READ)
                continue
            head = _read_exactly(sock, HEAD.size)  # type: ignore[arg-type]
            body = head and _read_exactly(sock, HEAD.unpack(head)[0])  # type: ignore[arg-type]
            if head is None or body is None:
                selector.unregister(sock)
                sock.close()  # type: ignore[union-attr]
                continue
            size = HEAD.unpack(head)[1]
            reply = (filler * (size // len(filler) + 1))[:size]
            sock.sendall(reply)  # type: ignore[union-attr]


def client(host: str, port: int, seconds: float, connections: int) -> None:
    rng = random.Random(20261201)
    deadline = time.monotonic() + seconds
    socks = [_nodelay(socket.create_connection((host, port))) for _ in range(connections)]
    while time.monotonic() < deadline:
        k = rng.randrange(len(socks))
        body = rng.choice((1, 2, 40, 300, 1200, 1448, 3000, 6000, rng.randrange(1, 6000)))
        reply = rng.choice((1, 8, 100, 536, 1448, 4000, 20000, rng.randrange(1, 20000)))
        socks[k].sendall(HEAD.pack(body, reply) + b"r" * body)
        if _read_exactly(socks[k], reply) is None:
            sys.exit("server closed a connection")
        if rng.random() < 0.02:
            socks[k].close()
            socks[k] = _nodelay(socket.create_connection((host, port)))
    for sock in socks:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=("serve", "client"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--connections", type=int, default=48)
    args = parser.parse_args()
    if args.role == "serve":
        serve(args.port)
    else:
        client(args.host, args.port, args.seconds, args.connections)


if __name__ == "__main__":
    main()
