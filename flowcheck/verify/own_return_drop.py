"""handshake_incomplete's plain reading (the return traffic blocked) placed and worded by
the host: where the capture was taken, and which system's firewall to look in.

A capture proven taken on the connection's originator (verify.capture_host.proven_host:
its TTLs or Linux cooked marks) holds the SYN-ACKs arriving there and no ACK leaving:
the packet tap sees arriving packets before the host's firewall and leaving ones after
it, so the host's own firewall drops them (its input chain the SYN-ACKs, or its output
chain the ACKs), and no firewall between the hosts is left to look in (newuser68 item 4:
win-cbsynack-a.pcap, taken on the agent, its fix "on 10.68.2.2 (its input chain) and on
any firewall between the hosts", nothing said of where the capture was taken).

A host whose TTL (hop limit) starts at 128 is most likely Windows (its default; Linux's
and macOS's is 64, any system's can be set so: a hint, not proof). There Windows Defender
Firewall keeps the state of the connections it allows and passes their replies (as
`flowcheck firewall` says, flowcheck.rules), so a stateless drop of the SYN-ACKs is a
third-party endpoint firewall's or security suite's; the Windows Filtering Platform's
packet-drop audit (Security log event 5152) names the filter that dropped each packet.
The nft and iptables commands follow for a Linux host (newuser68 item 4: the lab agent,
ip_default_ttl 128, got only the netfilter commands). The Windows words are
verify.windows_host's, shared with the other readings that send the user to a host's own
firewall.
"""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.capture_host_proof import CaptureHostProof
from flowcheck.verify.context import Context
from flowcheck.verify.established_accept import established_accept
from flowcheck.verify.return_way import split_ways
from flowcheck.verify.windows_host import return_words, windows_host


def taken_on_originator(ctx: Context, conn: Connection) -> CaptureHostProof | None:
    """proven_host's answer when it names conn's originator (the capture was taken on
    the host the SYN-ACKs went to); None otherwise."""
    on = proven_host(ctx, conn.orig_h, conn.resp_h)
    return on if on is not None and on.host == conn.orig_h else None


def arrived_words(ctx: Context, conn: Connection, on: CaptureHostProof) -> str:
    """The message's sentence for taken_on_originator's `on` (leading space): the
    capture was taken on the originator, the SYN-ACKs arrived, no ACK left: its own
    firewall drops them; or, when the Linux cooked headers show the responder's packets
    arriving on another interface than the originator's to it leave by (rp_split), its
    reverse-path filter as well."""
    host = conn.orig_h
    split = rp_split(ctx, conn)
    if split is not None:
        out, back = split
        return (f" This capture was taken on {host} ({on.words}), where the SYN-ACKs "
                f"arrived and no ACK left, {conn.resp_h}'s packets arriving on interface "
                f"index {back} while {host}'s to it leave by index {out} (asymmetric "
                f"routing): {host} drops the SYN-ACKs itself as they arrive, its "
                "reverse-path filter (Linux rp_filter 1, strict: a packet arriving on an "
                "interface its route back to the source does not leave by is dropped, with "
                "no firewall rule) or its own firewall (the packet tap sees arriving "
                "packets before both), or its firewall drops its ACKs as they leave.")
    return (f" This capture was taken on {host} ({on.words}), where the SYN-ACKs arrived "
            f"and no ACK left: {host}'s own firewall drops the SYN-ACKs as they arrive (the "
            "packet tap sees arriving packets before the firewall) or its ACKs as they "
            "leave (the tap sees leaving packets after it)." + segment_words(on))


def rp_split(ctx: Context, conn: Connection) -> tuple[str, str] | None:
    """(the interface indexes conn's IPv4 originator sends to its responder by, those
    the responder's packets arrive on), as words, when the Linux cooked headers show them
    apart (verify.return_way.split_ways: the capture proven taken on the originator by
    its marks); None otherwise, and for IPv6 (no rp_filter; ip6 rpfilter is a netfilter
    rule). review64n: rp_filter 1 on 10.64.1.1, 10.64.1.2's SYN-ACKs routed back to its
    second interface, `nstat` TcpExtIPReversePathFilter 8, no firewall at all, read
    "10.64.1.1's own firewall drops the SYN-ACKs"."""
    if ":" in conn.orig_h:
        return None
    ways = split_ways(ctx, conn.orig_h, conn.resp_h)
    if ways is None:
        return None
    out, back = ways
    return ", ".join(str(i) for i in sorted(out)), ", ".join(str(i) for i in sorted(back))


def segment_words(on: CaptureHostProof) -> str:
    """With its leading space, for a proof of the TTLs alone (not CaptureHostProof.
    marked): the capture may be on the host's network segment, a bridging (layer 2)
    firewall between that point and the host keeping the TTL and dropping the SYN-ACKs
    (review63e's hedge for a capture the TTLs place; review64n: win-cbsynack-agent read
    "10.68.2.2's own firewall drops" with no other device left); "" when the marks prove
    the host itself."""
    if on.marked:
        return ""
    return (f" Were this capture taken on {on.host}'s network segment rather than on it "
            "(the TTLs cannot tell), a bridging (layer 2) firewall between this point and "
            f"{on.host}, which keeps the TTL, may drop the SYN-ACKs instead.")


def return_fix(ctx: Context, conn: Connection, return_rule: str) -> str:
    """handshake_incomplete's fix for the return traffic blocked: on the originator
    itself when the capture was taken there (taken_on_originator), else on it and any
    firewall between; the Windows clause first when its TTL starts at 128
    (verify.windows_host), the netfilter commands then "on Linux", unless the Linux cooked
    marks prove the capture taken on the host itself (a Linux host)."""
    host = conn.orig_h
    on = taken_on_originator(ctx, conn)
    accept = "accept the return traffic of established connections ahead of any drop"
    commands = f"{established_accept('input')}, or {return_rule}."
    # A Linux cooked capture proven taken on the host itself (its marks) shows it runs
    # Linux, whatever its TTL (review64n: ip_default_ttl 128 on a Linux host).
    windows = windows_host(ctx, host, conn.resp_h, linux=on is not None and on.marked)
    if on is not None:
        where = f"On {host} itself ({on.taken_there}: the SYN-ACKs reached it)"
        chains = "in its input chain (and its output chain for the ACKs)"
        # By the TTLs alone, a bridging firewall before the host too (segment_words).
        bridging = "" if on.marked else (
            f" The TTLs cannot tell {host} from its network segment: accept that return "
            f"traffic also in any bridging (layer 2) firewall between {host} and this "
            "capture point.")
        # Its packets from the peer arriving on another interface (rp_split): its
        # reverse-path filter first.
        split = rp_split(ctx, conn)
        if split is not None:
            where = (f"{where}: `nstat -az TcpExtIPReversePathFilter` on {host} counting "
                     "up is its reverse-path filter dropping them: set "
                     "`sysctl -w net.ipv4.conf.all.rp_filter=2` and the same for the "
                     f"interface of index {split[1]} (`ip link` names it; loose: the kernel "
                     "applies the higher of the two), or "
                     f"route {conn.resp_h}'s packets back by the interface {host}'s leave by; "
                     "else")
        if not windows:
            return f"{where}, {chains}, {accept} {commands}{bridging}"
        return (f"{where}: {return_words(host)}; on Linux, {chains}, {accept} "
                f"{commands}{bridging}")
    if not windows:
        return (f"On {host} (its input chain) and on any firewall between the hosts, "
                f"{accept} {commands}")
    return (f"On {host} and on any firewall between the hosts, {accept}: on {host}, "
            f"{return_words(host)}; on a Linux host, in its input chain {commands}")
