"""How far apart a packet and its capture copy are captured, at most (COPY_WINDOW).

A capture copy (flowcheck.connections.copies) is the same packet captured twice. A
sender's own resend differs: Linux gives every packet of a connected socket the next
IP ID (a SYN retry too), and the TSval of a resend is later; and it comes after a
timeout: a SYN's 1 s (RFC 6298 2.1), the retransmission timeout's 200 ms minimum in
Linux (RFC 6298 2.4 says 1 s), the tail-loss probe's 2 ms minimum (Linux; RFC 8985
7.2). COPY_WINDOW (0.5 ms) is over 30 times the 15 us a SPAN copy lagged in the
trial captures (a switch mirrors in microseconds; both copies queue on the same mirror
port, so queueing delays them alike), and 4 times below the soonest resend.

WIDE_COPY_WINDOW (0.1 s) is for copies whose identity is strong: two captures merged
into one file (mergecap of the media server's and the agent's, a SPAN session over two
switch ports whose queues differ) hold each packet that passed both points twice, the
path's latency between the points apart (milliseconds on a LAN under load: a data SYN's
copies 3.9 ms apart in lab matrix seed 110 run 42; tens across sites), and that lag
varies from packet to packet, so a learnt offset (connections.points) misses some. A
pair apart more than COPY_WINDOW is a copy only when both packets have the same
non-zero IPv4 ID, the same TTL, and the same whole TCP header with a timestamp option
in it (stamped_identity: the same TSval). The common stacks' resends have neither: the
sender gives each the next IPv4 ID (Linux per socket, Windows per host: the same ID again
takes 65,536 packets sent between; macOS and OpenBSD a random one) and a later TSval (a
1 ms clock on Linux and the BSDs; the soonest resend, a tail-loss probe, is 2 ms on), so
a resend equal in both would need 65,536 packets sent within one tick of the timestamp
clock. The rule trusts that: RFC 1122 3.2.1.5 lets a stack resend an unchanged segment
with its original's ID, and RFC 6864 4.1 any ID (a constant one) on a datagram with DF,
so a stack doing so whose timestamp clock did not tick between (RFC 7323 allows 1 ms to
1 s a tick), or that resends the stored datagram whole, would have a resend within
WIDE_COPY_WINDOW read as a copy. A stack that sends IPv4 ID 0 with DF (Linux's SYN-ACKs
and RSTs, FreeBSD since 12: net.inet.ip.rfc6864), IPv6 (no ID) and a packet without the
timestamp option (Windows by default) keep COPY_WINDOW; so does a pair at two TTLs (a
router between the points: connections.points and relay_copies judge those) and a pair
captured on two named interfaces (a host's forwarding, in then out: a bridge's `tcpdump
-i any`; two points kept apart in a pcapng: relay_copies', whatever the lag). Across a
batch boundary the wide window is kept (copies_tail) once a copy beyond COPY_WINDOW
showed: before, a capture's tail costs what it did, but for its SYNs with an IPv4 ID and
a timestamp option of the last WIDE_COPY_WINDOW (copies_tail.wide_syns), so a SYN's copy
a batch after it is one whatever the batching (one-packet batches read
captures/lab-merged's 20 ms merge as every SYN sent twice; a live pipe's batches gather
50 ms); another packet's copy across a boundary before then reads as a resend.
"""

from __future__ import annotations

COPY_WINDOW = 0.0005  # seconds between a packet and its capture copy, at most
WIDE_COPY_WINDOW = 0.1  # the same, for a copy with the same IPv4 ID, TTL and TSval
