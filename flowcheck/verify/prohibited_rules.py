"""Which firewall rule sends an ICMP unreachable of a filter's code (administratively
prohibited and ICMPv6's policy codes), named by the code it sent: the example rule of
a reject from the refused host's own address (flowcheck.verify.refusals.icmp_cause).

Each code has its own reject type (nftables wiki "Rejecting traffic", iptables'
libipt_REJECT / libip6t_REJECT): IPv4 (RFC 1812 5.2.7.1) code 9 network, 10 host,
13 communication administratively prohibited; ICMPv6 (RFC 4443 3.1) code 1
communication with destination administratively prohibited, 5 source address failed
ingress/egress policy, 6 reject route to destination. nft's `icmpx admin-prohibited`
(an inet or bridge table's family-free type) sends code 13 over IPv4 and code 1 over
IPv6, never 9 or 10 (lab matrix seed 121 run 4: a reject with code 9 read "such as nft's
`reject with icmpx admin-prohibited`"). RHEL's and CentOS's stock iptables rules end
with `REJECT --reject-with icmp-host-prohibited`: code 10.

A reject from the host's own address with a routing code (routing_rule: IPv4 code 0
network, 1 host unreachable; ICMPv6 code 0 no route, 3 address unreachable) is named by
its code too: lab matrix seed 128 run 28, an ICMP network unreachable (code 0) from the
agent's address, read "such as nft's `reject with icmp type host-unreachable`", a rule
that sends code 1 (field check 65).

The rules are quoted as `nft list ruleset` prints them (nft(8) REJECT_WITH: `icmp
CODE`, `icmpv6 CODE`, `icmpx CODE`; nftables 1.0.6, checked in a netns): nft accepts
`reject with icmp type host-unreachable` as input but lists it `reject with icmp
host-unreachable`, so a user searching the listing for the quoted text found nothing
(review58h; tests/test_prohibited_rules_listed.py). iptables' as `iptables -S` prints
them (`-j REJECT --reject-with icmp-host-unreachable`). A table iptables-nft manages is
listed by nft in the `icmp type` form (its REJECT target's translation): that user
searches `iptables -S`'s words, quoted too.
"""

from __future__ import annotations

# (IP version, ICMP code) -> (nft's reject, iptables' / ip6tables' reject).
_RULES: dict[tuple[int, int], tuple[str, str]] = {
    (4, 9): ("reject with icmp net-prohibited", "REJECT --reject-with icmp-net-prohibited"),
    (4, 10): ("reject with icmp host-prohibited",
              "REJECT --reject-with icmp-host-prohibited"),
    (4, 13): ("reject with icmp admin-prohibited` or `reject with icmpx admin-prohibited",
              "REJECT --reject-with icmp-admin-prohibited"),
    (6, 1): ("reject with icmpv6 admin-prohibited` or `reject with icmpx "
             "admin-prohibited", "REJECT --reject-with icmp6-adm-prohibited"),
    (6, 5): ("reject with icmpv6 policy-fail", "REJECT --reject-with icmp6-policy-fail"),
    (6, 6): ("reject with icmpv6 reject-route", "REJECT --reject-with icmp6-reject-route"),
}

# The same for the routing codes a reject rule can send (nft's `icmp` / `icmpv6`
# code names, iptables' and ip6tables' --reject-with names; per IP version:
# trial 28 D16, IPv6 rules were given IPv4's `icmp` reject, which never matches IPv6).
_ROUTING_RULES: dict[tuple[int, int], tuple[str, str]] = {
    (4, 0): ("reject with icmp net-unreachable",
             "REJECT --reject-with icmp-net-unreachable"),
    (4, 1): ("reject with icmp host-unreachable",
             "REJECT --reject-with icmp-host-unreachable"),
    (6, 0): ("reject with icmpv6 no-route", "REJECT --reject-with icmp6-no-route"),
    (6, 3): ("reject with icmpv6 addr-unreachable",
             "REJECT --reject-with icmp6-addr-unreachable"),
}
# A routing code no reject rule sends (IPv4's 6 and 7, destination network or host
# unknown), or none known: the rules of the codes a reject rule does send.
_ROUTING_ANY = {4: ("reject with icmp host-unreachable", "reject with icmp net-unreachable"),
                6: ("reject with icmpv6 no-route", "reject with icmpv6 addr-unreachable")}


# How the quoted nft rule is printed, for one rule and for several.
_LISTED = "as `nft list ruleset` prints it"
_LISTED_THEM = "as `nft list ruleset` prints them"


def _rules_words(version: int, rules: tuple[str, str]) -> str:
    nft, iptables = rules
    tables = "ip6tables" if version == 6 else "iptables"
    listed = _LISTED_THEM if "` or `" in nft else _LISTED
    return f"such as nft's `{nft}` ({listed}; {tables}' `{iptables}`)"


def routing_rule(version: int, code: int | None) -> str:
    """"such as nft's `RULE` (as `nft list ruleset` prints it; iptables' `RULE`)" for a
    reject from the refused host's own address with ICMP (version 4) or ICMPv6 (6)
    routing code `code` (_ROUTING_RULES); for a code no reject rule sends, or None,
    "such as nft's `RULE` or `RULE` (...)" naming both codes' nft rules of that version."""
    rules = _ROUTING_RULES.get((version, code)) if code is not None else None
    if rules is None:
        first, second = _ROUTING_ANY[version]
        return f"such as nft's `{first}` or `{second}` ({_LISTED_THEM})"
    return _rules_words(version, rules)


def prohibited_rule(version: int, code: int | None) -> str:
    """"such as nft's `RULE` (as `nft list ruleset` prints it; iptables' `RULE`)": the
    rules that send ICMP (version 4) or ICMPv6 (6) unreachable code `code`, for a
    filter's code (_RULES); nft's family-free `reject with icmpx admin-prohibited` for
    another or unknown code."""
    rules = _RULES.get((version, code)) if code is not None else None
    if rules is None:
        return f"such as nft's `reject with icmpx admin-prohibited` ({_LISTED})"
    return _rules_words(version, rules)
