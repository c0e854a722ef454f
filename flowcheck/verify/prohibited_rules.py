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
"""

from __future__ import annotations

# (IP version, ICMP code) -> (nft's reject, iptables' / ip6tables' reject).
_RULES: dict[tuple[int, int], tuple[str, str]] = {
    (4, 9): ("reject with icmp type net-prohibited", "REJECT --reject-with icmp-net-prohibited"),
    (4, 10): ("reject with icmp type host-prohibited",
              "REJECT --reject-with icmp-host-prohibited"),
    (4, 13): ("reject with icmp type admin-prohibited` or `reject with icmpx admin-prohibited",
              "REJECT --reject-with icmp-admin-prohibited"),
    (6, 1): ("reject with icmpv6 type admin-prohibited` or `reject with icmpx "
             "admin-prohibited", "REJECT --reject-with icmp6-adm-prohibited"),
    (6, 5): ("reject with icmpv6 type policy-fail", "REJECT --reject-with icmp6-policy-fail"),
    (6, 6): ("reject with icmpv6 type reject-route", "REJECT --reject-with icmp6-reject-route"),
}


def prohibited_rule(version: int, code: int | None) -> str:
    """"such as nft's `RULE` (iptables' `RULE`)": the rules that send ICMP (version 4)
    or ICMPv6 (6) unreachable code `code`, for a filter's code (_RULES); nft's family-free
    `reject with icmpx admin-prohibited` for another or unknown code."""
    rules = _RULES.get((version, code)) if code is not None else None
    if rules is None:
        return "such as nft's `reject with icmpx admin-prohibited`"
    nft, iptables = rules
    tables = "ip6tables" if version == 6 else "iptables"
    return f"such as nft's `{nft}` ({tables}' `{iptables}`)"
