"""Windows' words for a fix that sends the user to a host's own firewall, when the host's
TTL (hop limit) starts at 128.

A host whose TTL starts at 128 is most likely Windows (its default; Linux's and macOS's
is 64, any system's can be set so: a hint, not proof), where nft and iptables do not
exist: Windows Defender Firewall with Advanced Security (its rules listed by
`Get-NetFirewallRule`, or `netsh advfirewall`) or a third-party endpoint firewall does
the filtering, and the Windows Filtering Platform's audits name the filter: of each
connection a rule blocked (a connect, an accept: Security log event 5157) and of each
packet dropped (a reply of a connection: event 5152). Each reading's fix gives these words
first, hedged, then the netfilter commands "on Linux"; none when the Linux cooked marks
prove the capture was taken on the host itself (it runs Linux, whatever its TTL:
review64n, ip_default_ttl 128 on a Linux host). Readings: the originator's return drop
(verify.own_return_drop, newuser68 item 4), the agent's own outbound drop of its callback
(verify.callback_unreached, verify.first_hop: newuser68b/router-any-cbdrop), the
listener's own firewall dropping SYNs (verify.opening.own_firewall_fix:
newuser68b/slow3-agent), each of whose fixes gave nft and iptables only.
"""

from __future__ import annotations

from flowcheck.model.traffic import hops_travelled
from flowcheck.verify.context import Context
from flowcheck.verify.ttl import own_ttls, ttl_word

# The initial TTL (hop limit) of Windows' stacks, IPv4 and IPv6 alike.
WINDOWS_TTL = 128

# The Windows Filtering Platform's drop audit: which filter dropped each packet (a reply
# of a connection, dropped at the packet layers: Microsoft's WFP "Auditing and logging",
# subcategory Filtering Platform Packet Drop, event 5152 "Packet dropped").
AUDIT = ("with `auditpol /set /subcategory:\"Filtering Platform Packet Drop\" "
         "/failure:enable` the Security log names the filter of each packet the Windows "
         "Filtering Platform drops, event 5152")

# Its connection audit: which filter blocked each connection (a connect or an accept a
# rule blocks at the connection layers, as Windows Defender Firewall's rules do: the
# subcategory Filtering Platform Connection, event 5157 "Connection blocked", with the
# connect's direction and the filter's id).
CONNECTION_AUDIT = ("with `auditpol /set /subcategory:\"Filtering Platform Connection\" "
                    "/failure:enable` the Security log names the filter of each connection "
                    "the Windows Filtering Platform blocks, event 5157")


def starts_at_128(ctx: Context, host: str, peer: str) -> bool:
    """Did every packet of host's to peer (own_ttls: no RST) arrive with a TTL counted
    down from 128 (hops_travelled: the nearest initial value at or above it)? False when
    none is captured."""
    ttls = own_ttls(ctx, host, peer)
    return bool(ttls) and all(t + hops_travelled(t) == WINDOWS_TTL for t in ttls)


def windows_host(ctx: Context, host: str, peer: str, *, linux: bool = False) -> bool:
    """Give host Windows' words? Its TTL to peer starts at 128 (starts_at_128) and
    linux is False (linux: the Linux cooked marks prove the capture taken on host,
    verify.capture_host_proof.CaptureHostProof.marked)."""
    return not linux and starts_at_128(ctx, host, peer)


def hint(subject: str, host: str) -> str:
    """The hedge, no capital: "its TTL starts at 128, Windows' default (a hint, not
    proof)" (subject: "its", "the agent's"; ttl_word: "hop limit" for IPv6)."""
    return f"{subject} {ttl_word(host)} starts at 128, Windows' default (a hint, not proof)"


def return_words(host: str) -> str:
    """The Windows clause of the fix for the return traffic blocked on host (stateless,
    so not Windows Defender Firewall's), hedged; no capital, no full stop (one sentence
    with the rest of the fix: the verdict line quotes a fix's first sentence)."""
    return (f"{hint('its', host)}, "
            "and Windows Defender Firewall with Advanced Security keeps the state of the "
            "connections it allows and passes their replies, so on Windows look for a "
            "third-party endpoint firewall or security suite that drops them ("
            f"{AUDIT}; `Get-NetFirewallRule -Action Block -Enabled True` "
            "or `netsh advfirewall firewall show rule name=all` lists Windows Firewall's "
            "own block rules)")


def outbound_words(host: str) -> str:
    """The Windows clause for host's own outbound rules dropping its connection (the
    agent's callback), hedged; no capital, no full stop. The connection audit (event 5157),
    not the packet-drop one: a connect a rule blocks is a blocked connection."""
    agent = hint("the agent's", host)
    return (f"{agent}: on Windows, "
            "`Get-NetFirewallRule -Direction Outbound -Action Block -Enabled True` lists "
            "Windows Defender Firewall's outbound block rules (`Get-NetFirewallProfile` "
            "shows a DefaultOutboundAction of Block, which blocks what no rule allows), or "
            "a third-party endpoint firewall or security suite drops it ("
            f"{CONNECTION_AUDIT}; `netsh advfirewall firewall show rule name=all dir=out` "
            "lists the same rules)")


def inbound_words(host: str) -> str:
    """The Windows clause for host's own firewall dropping the connections it listens
    for, hedged; no capital, no full stop. The connection audit (event 5157, an accept a
    rule blocks) and the packet-drop one (5152)."""
    return (f"{hint('its', host)}: on Windows, "
            "`Get-NetFirewallRule -Direction Inbound -Action Block -Enabled True` lists "
            "Windows Defender Firewall's inbound block rules (by default it blocks an "
            "inbound connection no allow rule matches: `New-NetFirewallRule -Direction Inbound "
            "-Action Allow` adds one), or a third-party endpoint firewall or security suite "
            f"drops them ({CONNECTION_AUDIT}, and with \"Filtering Platform Packet Drop\" "
            "each packet it drops, event 5152; `netsh advfirewall firewall show rule "
            "name=all dir=in` lists the same rules)")
