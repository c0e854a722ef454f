"""`--filter`: a BPF-like selection of connections.

Grammar (keywords as in tcpdump; `src` is the originator's side, `dst` the responder's):

    expr    := term (("or" | "||") term)*
    term    := factor (("and" | "&&") factor)*
    factor  := ("not" | "!") factor | "(" expr ")" | primitive
    primitive := proto | [proto] ["src" | "dst"] kind
    kind    := "host" IP | "net" CIDR | "port" N | "portrange" A-B
    proto   := "tcp" | "ip" | "ip6"

A bare address, network or number after `src`/`dst` in tcpdump's shorthand is not
accepted: every primitive names its kind, so a typo cannot change the meaning. The
protocol qualifiers are tcpdump's (`tcp port 10000`, as tcpdump users type it): every
connection is TCP, so `tcp` selects them all; `ip` and `ip6` select those over IPv4 and
IPv6. Another protocol (`udp`, `icmp`) is an error: it would select no connection;
so are `ether` (a connection keeps no MAC address) and tcpdump's byte offsets and
arithmetic (`tcp[13] & 2 != 0`: the filter selects connections, not packets). A
network with host bits set (`net 10.77.0.1/24`) is an error naming its network, as
tcpdump's and --backup-network's are.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from flowcheck.errors import UsageError
from flowcheck.model import Connection

Predicate = Callable[[Connection], bool]
_TOKEN = re.compile(r"\s*(\(|\)|&&|\|\||!|[^\s()!&|]+)")
_KINDS = ("host", "net", "port", "portrange")
# tcpdump's protocol qualifiers a connection can match: by its IP version, or any.
_PROTOCOLS: dict[str, Predicate] = {
    "tcp": lambda c: True,
    "ip": lambda c: ":" not in c.orig_h,
    "ip6": lambda c: ":" in c.orig_h,
}
# Other tcpdump protocols: no connection is one of them.
_NOT_TCP = ("udp", "icmp", "icmp6", "sctp", "arp", "rarp", "igmp")
_ENDS = (None, ")", "and", "&&", "or", "||")


# What the grammar takes, for the errors about what it does not.
_SUPPORTED = ("host, net, port, portrange (with src/dst, tcp/ip/ip6), joined with "
              "and/or/not and parentheses")


def _tokens(expr: str) -> list[str]:
    if "[" in expr:  # tcpdump's `tcp[13] & 2 != 0`, `tcp[tcpflags]`: packet bytes
        raise UsageError(f"--filter {expr!r}: byte-offset expressions (proto[offset]) "
                         "are not supported: the filter selects whole connections, not "
                         f"packets, by {_SUPPORTED}")
    tokens: list[str] = []
    position = 0
    text = expr.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            # A lone & or |, or what follows one: tcpdump's arithmetic and comparisons.
            raise UsageError(f"--filter {expr!r}: cannot read {text[position:]!r}: "
                             "arithmetic and comparisons (&, |, =, <, >) are not "
                             f"supported; the filter takes {_SUPPORTED}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = _tokens(expr)
        self.index = 0

    def fail(self, why: str) -> UsageError:
        return UsageError(f"--filter {self.expr!r}: {why}")

    def peek(self) -> str | None:
        return self.tokens[self.index].lower() if self.index < len(self.tokens) else None

    def take(self) -> str:
        if self.index >= len(self.tokens):
            raise self.fail("the expression ends too early")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Predicate:
        if not self.tokens:
            raise self.fail("empty expression")
        predicate = self.expr_()
        if self.index != len(self.tokens):
            raise self.fail(f"unexpected {self.tokens[self.index]!r}")
        return predicate

    def expr_(self) -> Predicate:
        parts = [self.term()]
        while self.peek() in ("or", "||"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda c: any(p(c) for p in parts))

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.peek() in ("and", "&&"):
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda c: all(p(c) for p in parts))

    def factor(self) -> Predicate:
        token = self.peek()
        if token in ("not", "!"):
            self.take()
            inner = self.factor()
            return lambda c: not inner(c)
        if token == "(":
            self.take()
            inner = self.expr_()
            if self.peek() != ")":
                raise self.fail("missing ')'")
            self.take()
            return inner
        return self.primitive()

    def primitive(self) -> Predicate:
        protocol = _PROTOCOLS.get(self.peek() or "")
        if self.peek() == "ether":
            raise self.fail("'ether': link-layer (MAC) addresses are not kept per "
                            "connection: select by IP address, host IP or net CIDR")
        if self.peek() in _NOT_TCP:
            raise self.fail(f"{self.peek()!r}: flowcheck's connections are TCP, so it "
                            "would select none")
        if protocol is not None:
            self.take()
            if self.peek() in _ENDS:  # `tcp`, `ip6` alone
                return protocol
        side = None
        if self.peek() in ("src", "dst"):
            side = self.take().lower()
        kind = self.take().lower()
        if kind not in _KINDS:
            raise self.fail(f"expected one of {', '.join(_KINDS)}, got {kind!r}")
        value = self.take()
        chosen = _on_side(side, _value_test(kind, value, self.fail))
        if protocol is None:
            return chosen
        return lambda c: protocol(c) and chosen(c)


def _on_side(side: str | None, test: Callable[[str, int], bool]) -> Predicate:
    """`test` on the originator's end (src), the responder's (dst), or either."""
    if side == "src":
        return lambda c: test(c.orig_h, c.orig_p)
    if side == "dst":
        return lambda c: test(c.resp_h, c.resp_p)
    return lambda c: test(c.orig_h, c.orig_p) or test(c.resp_h, c.resp_p)


def _port(text: str, fail: Callable[[str], UsageError]) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise fail(f"{text!r} is not a port number")
    return int(text)


def _value_test(kind: str, value: str,
                fail: Callable[[str], UsageError]) -> Callable[[str, int], bool]:
    if kind == "host":
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise fail(f"{value!r} is not an IP address") from None
        return lambda host, _port: ipaddress.ip_address(host) == address
    if kind == "net":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise fail(f"{value!r} is not a network (CIDR)") from None
        if ipaddress.ip_interface(value).ip != network.network_address:
            raise fail(f"{value!r} has host bits set: give the network, {network}")
        return lambda host, _port: ipaddress.ip_address(host) in network
    if kind == "port":
        number = _port(value, fail)
        return lambda _host, port: port == number
    low_text, dash, high_text = value.partition("-")
    if not dash:
        raise fail(f"portrange needs LO-HI, got {value!r}")
    low, high = _port(low_text, fail), _port(high_text, fail)
    if low > high:
        raise fail(f"portrange {value!r} is empty")
    return lambda _host, port: low <= port <= high


def compile_filter(expr: str) -> Predicate:
    """A predicate on connections; UsageError (one line) for an invalid expression."""
    return _Parser(expr).parse()
