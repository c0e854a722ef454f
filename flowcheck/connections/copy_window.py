"""How far apart a packet and its capture copy are captured, at most (COPY_WINDOW).

A capture copy (flowcheck.connections.copies) is the same packet captured twice. A
sender's own resend differs: Linux gives every packet of a connected socket the next
IP ID (a SYN retry too), and the TSval of a resend is later; and it comes after a
timeout: a SYN's 1 s (RFC 6298 2.1), the retransmission timeout's 200 ms minimum in
Linux (RFC 6298 2.4 says 1 s), the tail-loss probe's 2 ms minimum (Linux; RFC 8985
7.2). COPY_WINDOW (0.5 ms) is over 30 times the 15 us a SPAN copy lagged in the
trial captures (a switch mirrors in microseconds; both copies queue on the same mirror
port, so queueing delays them alike), and 4 times below the soonest resend.
"""

from __future__ import annotations

COPY_WINDOW = 0.0005  # seconds between a packet and its capture copy, at most
