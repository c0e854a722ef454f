"""A bridge that delays each frame: two capture points on one segment some milliseconds apart.

The kernel here has neither sch_netem nor sch_fq (`tc qdisc add ... netem`: "Specified
qdisc kind is unknown"), and a delay on a host's own egress delays its own capture of
the packet alike (tcpdump's tap on an outgoing packet is after the qdisc). So the lab's
path delay between two capture points is this user-space bridge, run in a third
namespace between M's and A's veths: it reads every frame arriving on one side with an
AF_PACKET socket and sends it unchanged out of the other side `delay` ms later. A bridge
changes no TTL, so M's and A's captures merged hold each packet twice at one TTL, the
second copy the delay (and this process's scheduling, tenths of a millisecond, more
under load) after the first: what a SPAN session over two switch ports whose queues
differ, or two sniffers on a path with latency between them, records.

    ip netns exec NS python -m flowcheck.lab.delay_bridge r0 r1 --to-second 20 --to-first 0

Runs until SIGTERM or SIGINT. Frames the kernel sends out of either side (PACKET_OUTGOING,
this bridge's own) are not forwarded again.
"""

from __future__ import annotations

import argparse
import heapq
import select
import signal
import socket
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4  # sockaddr_ll pkttype of a frame sent out of the interface


def bridge(first: str, second: str, to_second: float, to_first: float) -> None:
    """Forward frames between interfaces `first` and `second` (names), those arriving on
    `first` after `to_second` seconds, those on `second` after `to_first`, until a signal
    ends the process."""
    sockets = {}
    for name in (first, second):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((name, 0))
        sock.setblocking(False)
        sockets[name] = sock
    route = {first: (sockets[second], to_second), second: (sockets[first], to_first)}
    due: list[tuple[float, int, socket.socket, bytes]] = []  # (send at, order, out, frame)
    order = 0
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    signal.signal(signal.SIGINT, lambda *_: running.__setitem__(0, False))
    by_fd = {sock.fileno(): name for name, sock in sockets.items()}
    while running[0]:
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, out, frame = heapq.heappop(due)
            out.send(frame)
        timeout = max(0.0, due[0][0] - now) if due else 0.2
        try:
            ready, _, _ = select.select(list(sockets.values()), [], [], timeout)
        except InterruptedError:
            continue
        for sock in ready:
            name = by_fd[sock.fileno()]
            while True:
                try:
                    frame, address = sock.recvfrom(65535)
                except BlockingIOError:
                    break
                if address[2] == PACKET_OUTGOING:
                    continue
                out, delay = route[name]
                order += 1
                heapq.heappush(due, (time.monotonic() + delay, order, out, frame))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--to-second", type=float, default=0.0,
                        help="ms a frame arriving on FIRST waits before leaving SECOND")
    parser.add_argument("--to-first", type=float, default=0.0,
                        help="ms a frame arriving on SECOND waits before leaving FIRST")
    args = parser.parse_args()
    bridge(args.first, args.second, args.to_second / 1000, args.to_first / 1000)


if __name__ == "__main__":
    main()
