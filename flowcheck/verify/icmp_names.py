"""The names of the ICMP and ICMPv6 destination unreachable codes that are neither a
filter's, a closed port's nor routing's (verify.refusals names those), so that a
refusal by any code reads by its name and number, as tshark shows it (`Code: 14 (Host
precedence violation)`; tests/test_icmp_code_names.py compares the two).

IPv4: RFC 792, RFC 1122 3.2.2.1 (codes 6-12), RFC 1812 5.2.7.1 (13-15). ICMPv6: RFC
4443 3.1 (code 2), RFC 6554 (7). A code outside these tables (IPv4 above 15, ICMPv6
above 7: none assigned) reads by its number alone. IPv4's fragmentation needed (code 4)
refuses nothing (connections.icmp_attach, path MTU discovery's message): no name here.
"""

from __future__ import annotations

OTHER_NAMES: dict[int, dict[int, str]] = {
    4: {2: "protocol unreachable", 5: "source route failed", 8: "source host isolated",
        11: "network unreachable for type of service (TOS)",
        12: "host unreachable for type of service (TOS)",
        14: "host precedence violation", 15: "precedence cutoff in effect"},
    6: {2: "beyond scope of source address", 7: "error in source routing header"},
}


def other_unreachable(icmp: str, version: int, code: int | None) -> str:
    """ "ICMP unreachable "source host isolated" (code 8)" for a code of OTHER_NAMES,
    "ICMP unreachable (code 20)" for one of no name, "ICMP unreachable" when the code
    is unknown (None). `icmp`: "ICMP" or "ICMPv6"; `version`: 4 or 6."""
    if code is None:
        return f"{icmp} unreachable"
    name = OTHER_NAMES.get(version, {}).get(code)
    return f"{icmp} unreachable " + (f'"{name}" ' if name else "") + f"(code {code})"
