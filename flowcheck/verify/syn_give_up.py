"""How long a connector's TCP resends a dropped SYN before it gives the connect up, in
words that hold for the connector's system, for the readings that tell a reject from a
drop by how soon a connect failed (verify.gave_up, verify.lone_data_syn).

TCP gives a connect up only after resending its unanswered SYN (RFC 6298 5.7), how long
by the system (task words65: the words said "a minute or more", Linux's alone, while
Backup Exec's agents and media servers mostly run Windows):
- Windows: 2 resends by default, the first wait 3 s, doubled each time: SYNs at 0, 3
  and 9 s, the connect given up at 21 s (TcpMaxConnectRetransmissions, TcpInitialRTT;
  Microsoft's Windows Server 2016/2019 tuning guide shows `netsh interface tcp show
  global` "Initial RTO : 3000", "Max SYN Retransmissions : 2"). Recent releases' output
  (the one that lists "Proportional Rate Reduction", as published in several public
  repositories' notes and tests) shows "Initial RTO : 1000", "Max SYN Retransmissions :
  4": SYNs at 0, 1, 3, 7 and 15 s, the connect given up at 31 s, later, not sooner
  (review64j: the words said "within about 21 s ... (2 resends by default)" of every
  Windows). Its packets leave with TTL (hop limit) 128.
- Linux: tcp_syn_retries 6, the waits 1, 2, ... 64 s, given up after 127 s; with
  tcp_syn_linear_timeouts 4 (newer kernels' default) 10 resends, the first four 1 s
  apart: the lab's kernel 6.18 resent at 1.0, 2.0, 3.1, 4.1, 5.1, 7.1, 11.3, 19.5, 35.6
  and 69.1 s and gave up after 134.7 s (netns words65a/b, the listener's input chain
  dropping the SYNs). macOS and the BSDs give up after 75 s. All of them send at TTL 64.
The SYN's TTL as captured (Connection.orig_ttl) shows the initial one (model.traffic
.hops_travelled: the nearest of 64, 128, 255 at or above it), so the words name the
system when it is 64 or 128 and say both otherwise.
"""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.model.traffic import hops_travelled
from flowcheck.verify.ttl import ttl_word

_CLAIM = "TCP gives a dropped SYN up only after resending it"
_WINDOWS = "within about 21 to 31 s on Windows (2 resends by default, 4 on recent releases)"
_LINUX = "two minutes or more on Linux"


def give_up_words(conn: Connection) -> str:
    """"TCP gives a dropped SYN up only after resending it, ..." of conn's SYN, how long by
    the system its TTL (hop limit) starts at: "..., within about 21 to 31 s on Windows
    (2 resends by default, 4 on recent releases), whose TTL starts at 128 as this SYN's
    (127) does"; "..., for a minute or more on the systems whose TTL starts at 64 as
    this SYN's (63) does, two minutes or more on Linux"; both systems' when the TTL is
    not known or starts at 255: "...: within about 21 to 31 s on Windows (2 resends by
    default, 4 on recent releases), two minutes or more on Linux" (module docstring)."""
    ttl = conn.orig_ttl
    initial = None if ttl is None else ttl + hops_travelled(ttl)
    word = ttl_word(conn.orig_h)
    if initial == 128:
        return f"{_CLAIM}, {_WINDOWS}, whose {word} starts at 128 as this SYN's ({ttl}) does"
    if initial == 64:
        return (f"{_CLAIM}, for a minute or more on the systems whose {word} starts at 64 "
                f"as this SYN's ({ttl}) does, {_LINUX}")
    return f"{_CLAIM}: {_WINDOWS}, {_LINUX}"


def fast_reject_words(conn: Connection) -> str:
    """"a connect fails that fast on a reject (a RST or an ICMP unreachable, which the
    capture lacks) or an unreachable host, not on a drop (TCP gives ...: give_up_words),
    so it was most likely rejected": the reading of a connect of conn's lone SYN that
    failed within the retransmission timeout (verify.lone_data_syn,
    verify.lone_connect_error); no capital, no full stop."""
    return ("a connect fails that fast on a reject (a RST or an ICMP unreachable, which "
            "the capture lacks) or an unreachable host, not on a drop "
            f"({give_up_words(conn)}), so it was most likely rejected")
