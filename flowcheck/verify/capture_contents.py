"""no_control_session when the capture holds no TCP flowcheck can read: say what it holds.

A capture of the job that flowcheck cannot read (a link type it does not decode, every
record cut by the snap length before the TCP header, the job inside a tunnel on a port
it does not decode, an MPLS pseudowire without control word) used to read as "no TCP
connection at all: the wrong interface, a filter" with "check --ndmp-port" (trial 22 D5,
D6; trial 24 D6): the words sent the user to the interface and the port while the
sniffer had seen every packet. Here the finding says what the capture does hold
(flowcheck.decode.skipped counted it), why nothing could be judged, and the fix for that
cause. It stays a warning when there is no TCP connection at all (nothing of the job was
judged: the verdict is inconclusive); when there are TCP connections but none to the
NDMP port and most packets are such traffic, the words are added to the error's, which
becomes a warning too when that traffic is one flowcheck cannot read (the job may be in
it). An encapsulation flowcheck knows by name but does not read (flowcheck.decode.unread:
PBB, GTP-U, TZSP, ...) is named, with its first frame among the finding's frames: the job
may be inside it, so no "the sniffer saw none of the job's traffic" (trial 36 D4).
"""

from __future__ import annotations

from dataclasses import replace

from flowcheck.config import Config
from flowcheck.decode import unread
from flowcheck.decode.skipped import FlowKey, Skipped
from flowcheck.doc_files import doc_page
from flowcheck.frame_names import frame_text
from flowcheck.model import CaptureInfo, Connection, Finding, Severity
from flowcheck.sources.capture_filter import plain_filter, vlan_filter
from flowcheck.sources.linktypes import linktype_name
from flowcheck.verify.allow_rules import lowered
from flowcheck.verify.capture_filter import keeps_control, quoted
from flowcheck.verify.never_reached import REACHED_FIX, never_reached
from flowcheck.verify.no_session import WHERE

PROTOCOLS = {1: "ICMP", 2: "IGMP", 17: "UDP", 47: "GRE", 50: "IPsec ESP", 51: "IPsec AH",
             58: "ICMPv6", 89: "OSPF", 103: "PIM", 112: "VRRP", 115: "L2TP", 132: "SCTP"}
ETHERTYPES = {0x0806: "ARP", 0x8035: "RARP", 0x8847: "MPLS", 0x8848: "MPLS",
              0x88CC: "LLDP", 0x8809: "LACP", 0x88E5: "MACsec", 0x8863: "PPPoE discovery",
              0x888E: "802.1X", 0x88F7: "PTP"}
WIFI_LINKS = (105, 119, 127, 163, 192)  # IEEE802_11, _PRISM, _RADIOTAP, _AVS, PPI
MPLS = (0x8847, 0x8848)
ESP = 50
# Encrypted VPNs over UDP on their registered or default ports (trial 38 C1: a WireGuard
# capture read as a sniffer that missed the job): the job may be inside, unreadable.
ENCRYPTED_UDP = {51820: "WireGuard", 1194: "OpenVPN",
                 4500: "IPsec ESP in UDP (NAT traversal, RFC 3948)"}
INNER_CAPTURE = ("Capture where the job's packets are not yet encrypted: on the tunnel's "
                 "inner interface (wg0, tun0, an xfrm or VTI interface) of the media server "
                 "or the agent, or on the hosts themselves when a gateway encrypts them.")
IPPROTO_UDP = 17
# Linux cooked capture packet types (linux/if_packet.h): sent by the capture host, and
# arriving at it (to its own address, broadcast, multicast).
OUTGOING, ARRIVING = 4, {0, 1, 2}
# The fix of a capture the marks show of one direction (_one_way): where it was taken,
# unknown (the agent's own `-Q out` in seed 125 run 23), is named as a place to capture,
# not "the media server's interface" alone.
ONE_WAY_FIX = ("If it was taken with tcpdump -Q, capture both directions (without -Q) where "
               "it was taken, or on the media server's or the agent's interface toward the "
               "other, while the job starts. ")
IPPROTO_ICMPV6 = 58
ETHERTYPE_ARP = 0x0806
SOLICITED_NODE = "ff02::1:ff"  # RFC 4291 2.7.1: where neighbour solicitations go
UNSPECIFIED = "::"  # RFC 4291 2.5.2: a DAD probe's source (RFC 4862 5.4.2)
# A capture of address resolution alone (ARP, IPv6 neighbour solicitations) with no TCP:
# a host that could not resolve its peer sends no SYN at all ("No route to host"), so
# the sniffer may well have seen all there was (trial 28 D2: the words blamed it).
RESOLVING = (": a host resolving a neighbour's address, which it must do before it can "
             "send it a single packet; when the neighbour never answers (down, or a wrong "
             "address) no SYN ever leaves it, so the job may have failed before it "
             "started rather than the sniffer missing it")
RESOLVING_FIX = ("Give the agent's address with --remote-agent: its unanswered ARP requests "
                 "or neighbour solicitations are then judged (agent_unreachable); and "
                 "capture on the media server's interface toward the agent while the job "
                 "starts.")


def explain_unreadable(findings: list[Finding], captures: list[CaptureInfo],
                       connections: list[Connection], skipped: Skipped | None,
                       config: Config) -> list[Finding]:
    """The findings, a no_control_session rewritten to say what the capture holds when
    it holds no TCP connection, or when most of its packets are traffic flowcheck could
    not read; with no TCP connection, the capture filter the sniffer applied is named
    among the causes (live's default keeps only TCP, ICMP and the tunnels flowcheck
    decodes)."""
    if skipped is None or not any(f.code == "no_control_session" for f in findings):
        return findings
    packets = sum(c.packets for c in captures)
    words = _what_it_holds(captures, skipped, packets, whole=not connections)
    if words is None and connections and skipped.cut and skipped.snap:
        # Records cut before their TCP header ends hide which connection they are, the
        # control connection among them however few (`-s 68` cuts IPv6's TCP header
        # only: lab-trial19-callback/v6-dualstack, its IPv4 data read, failed). Not a
        # record of 0 bytes (fuzzed junk, tcpdump-tests' bgp_vpn_rt-oobr): no snap length.
        held, why, fix = _cut(f"{skipped.cut:,} of the {packets:,} packets", skipped)
        words = held, why, fix, []
    if words is None and connections:
        return findings
    held, why, fix, frames = words or ("", "", "", [])
    # Address resolution alone is readable traffic, not the job's hidden in other
    # traffic: its fix changes neither the words "at all" nor the severity.
    unreadable = bool(fix) and why != RESOLVING
    one_way = "" if why or connections else _one_way(skipped, packets)
    reached = ""
    if not why and not connections:
        causes = _causes(captures, config)
        reached = "" if one_way else never_reached(skipped, config,
                                                   filtered=_filter_may_drop(captures, config))
        why = (f" (the sniffer saw none of the job's traffic: {one_way}; or it missed the "
               f"job: {causes})"
               if one_way else f" (the sniffer saw none of the job's traffic: {causes}"
               f"{reached})")
    port = config.ndmp_port
    # A finding naming an unread encapsulation's first frame has that frame's time
    # (docs/json.md; field check 37: ts was null beside frames [1]).
    times = {skipped.unread_first[name]: at for name, at in skipped.unread_first_ts.items()}
    out = []
    for finding in findings:
        if finding.code != "no_control_session":
            out.append(finding)
        elif connections:
            # Most of the capture unreadable (a tunnel, cut records, a link type): the
            # job may be in it, so nothing is judged, as with no TCP at all.
            out.append(replace(finding, message=f"{finding.message} {held}{why}.",
                               fix=f"{fix} {finding.fix}" if fix else finding.fix,
                               severity=Severity.WARNING if unreadable
                               else finding.severity,
                               frames=sorted({*finding.frames, *frames}),
                               ts=_dated(finding, frames, times)))
        else:
            out.append(replace(
                finding, message="No NDMP control connection in the capture: it holds no "
                f"TCP connection{' flowcheck can read' if unreadable else ' at all'}, so nothing "
                f"of the job can be judged{': ' + held if held else ''}{why}.",
                fix=fix or (
                    f"{ONE_WAY_FIX}Check --ndmp-port (the agent's NDMP port, {port} here)."
                    if one_way else f"Check --ndmp-port (the agent's NDMP port, {port} "
                    f"here) and {WHERE}.{REACHED_FIX if reached else ''}"),
                frames=sorted({*finding.frames, *frames}),
                ts=_dated(finding, frames, times)))
    return out


def _dated(finding: Finding, frames: list[int], times: dict[int, float]) -> float | None:
    """The finding's time; for one without, the time of the first of the frames added
    that has one (epoch seconds)."""
    if finding.ts is not None:
        return finding.ts
    return next((times[f] for f in sorted(frames) if f in times), None)


def _one_way(skipped: Skipped, packets: int) -> str:
    """Words for a capture with no TCP whose every packet its Linux cooked header marks
    one way (Skipped.cooked): all sent by the capture host, or all arriving at it (to
    its own address, broadcast or multicast), which a capture of one direction holds
    (tcpdump -Q out / -Q in; lab matrix seed 125 run 23: the agent's host's `-Q out`
    held its neighbour advertisements and router solicitations alone, the control SYNs
    arriving at it not). A capture of both directions holds the same when nothing came
    the other way while it ran, so that is said too (review 56a, captures/review56a:
    `tcpdump -i any` without -Q of a host that heard only another's broadcast ARP, all
    marked 1, read "so it holds one direction only (tcpdump -Q in)"). "" when the marks
    do not say so (another host's frames among them, a packet without a mark, one
    packet alone)."""
    marks = set(skipped.cooked)
    if packets < 2 or sum(skipped.cooked.values()) != packets:
        return ""
    if marks == {OUTGOING}:
        held, missing, flag = "sent by the capture host (outgoing)", "arrive at the host", "out"
        alone = "nothing arrived at the host while it ran"
    elif marks <= ARRIVING:
        held, missing, flag = "arriving at the capture host", "the host sends", "in"
        alone = "the host sent nothing while it ran"
    else:
        return ""
    return (f"its Linux cooked headers mark every one of its {packets:,} packets {held}: "
            f"it was taken of one direction (tcpdump -Q {flag}), without the packets that "
            f"{missing}, a connection's SYN among them, or {alone}")


def _causes(captures: list[CaptureInfo], config: Config) -> str:
    """The usual causes of a capture without the job, naming the capture filter."""
    filters = list(dict.fromkeys(c.capture_filter for c in captures if c.capture_filter))
    if not filters:
        return "the wrong interface, a filter, or stopped before the job started"
    named = (*config.vxlan_ports, *config.geneve_ports)
    defaults = (plain_filter(), vlan_filter(), plain_filter(named), vlan_filter(named))
    if all(f in defaults for f in filters):
        said = ("live's default capture filter (TCP, ICMP and the tunnels flowcheck "
                "decodes)")
    else:
        kept = [keeps_control(f, config, []) for f in filters]
        if all(k is not None and k[0] for k in kept):
            return _keeping(filters, [k for k in kept if k is not None], config)
        said = f"the capture filter {quoted(filters)}"
    return ("the wrong interface, or stopped before the job started; or "
            f"{said} left it out (traffic it does not name, such as a tunnel on another "
            "port or an MPLS-labelled link, is not in the capture: try --capture-filter "
            '"")')


def _filter_may_drop(captures: list[CaptureInfo], config: Config) -> bool:
    """Does a capture filter the captures record possibly leave out the job's plain
    TCP (not every one keeps the NDMP port's: verify.capture_filter.keeps_control)?"""
    filters = [c.capture_filter for c in captures if c.capture_filter]
    return any((kept := keeps_control(f, config, [])) is None or not kept[0]
               for f in filters)


def _keeping(filters: list[str], kept: list[tuple[bool, bool]], config: Config) -> str:
    """_causes when every filter recorded keeps a plain control connection's packets
    (verify.capture_filter.keeps_control: `--capture-filter 'tcp'`): not the filter,
    unless the job's packets were encapsulated in a way it does not name."""
    said = quoted(filters)
    both = len(filters) > 1
    forms = ("VLAN-tagged, " if not all(tagged for _, tagged in kept) else "") + \
        "inside a tunnel (VXLAN, GRE) or MPLS-labelled"
    return (f"the wrong interface, or stopped before the job started; the capture "
            f"filter{'s' if both else ''} {said} {'keep' if both else 'keeps'} TCP to and "
            f"from the NDMP port {config.ndmp_port}"
            f"{' between the hosts' if config.media_servers and config.remote_agents else ''}"
            f", so {'they' if both else 'it'} left the job out only if its packets were "
            f"{forms}: --capture-filter \"\" keeps those too")


def _what_it_holds(captures: list[CaptureInfo], skipped: Skipped, packets: int,
                   whole: bool) -> tuple[str, str, str, list[int]] | None:
    """(what most packets are, why that holds nothing to judge, the fix or "", the
    frames to name: the first of an unread encapsulation) when one kind of skipped
    traffic is most of the capture (or, with no TCP at all, the largest kind); None when
    nothing was counted."""
    kinds = sorted(_kinds(captures, skipped), key=lambda kind: -kind[0])
    if not kinds or packets <= 0:
        return None
    count, describe = kinds[0][:2]
    if not whole and count * 2 < packets:
        return None
    held, why, fix = describe(f"{count:,} of {'its' if whole else 'the'} {packets:,} packets")
    held = _agreed(held, count)
    frames = list(kinds[0][2:])
    if whole and len(kinds) > 1:
        # No TCP at all: the next kind too when it explains something (an MPLS
        # pseudowire, part of which reads as IP fragments).
        more = kinds[1][1](f"{kinds[1][0]:,}")
        # An encrypted tunnel explains the capture: a few ARP packets beside it are the
        # tunnel endpoints', not a host that could not reach the agent.
        if more[1] and not (fix and more[1] == RESOLVING):
            held, why, fix = f"{held}{why}; {_agreed(more[0], kinds[1][0])}", more[1], \
                fix or more[2]
            frames += kinds[1][2:]
    return held, why, fix, frames


def _agreed(words: str, count: int) -> str:
    """The words' first verb in the singular for one packet ("1 of its 2 packets is")."""
    if count != 1:
        return words
    for plural, singular in ((" are ", " is "), (" were ", " was ")):
        if plural in words:
            return words.replace(plural, singular, 1)
    return words


def _kinds(captures: list[CaptureInfo], skipped: Skipped) -> list[tuple]:
    """(packets, a function of "N of M packets" giving the words[, the frame to name])
    per kind of traffic. An unread encapsulation comes first (of two kinds as large, the
    first is told), and its packets are not told again as the flow or ethertype they
    are."""
    kinds: list[tuple] = []
    for name, count in skipped.unread.most_common():
        first = skipped.unread_first[name]
        kinds.append((count, lambda said, name=name, first=first: _unread(said, name, first),
                      first))
    for link, count in skipped.unknown_links.items():
        kinds.append((count, lambda said, link=link: _unknown_link(said, link)))
    if skipped.cut:
        kinds.append((skipped.cut, lambda said: _cut(said, skipped)))
    flows = [(key, count) for key, count in skipped.flows.most_common()
             if not _unread_flow(key)]
    if flows:
        key, count = flows[0]
        kinds.append((count, lambda said, key=key: _flow(said, key)))
    ethertypes = [(ethertype, count) for ethertype, count in skipped.ethertypes.most_common()
                  if ethertype not in unread.ETHERTYPES]
    if ethertypes:
        ethertype, count = ethertypes[0]
        own = skipped.arp_own if ethertype == ETHERTYPE_ARP else 0
        kinds.append((count, lambda said, ethertype=ethertype, own=own >= count:
                      _not_ip(said, ethertype, own)))
    fragments = sum(c.fragments for c in captures)
    if fragments:
        kinds.append((fragments, lambda said: (
            f"{said} are IP fragments, none of which completes a TCP segment flowcheck "
            "could read", "", "")))
    return kinds


def _unread_flow(key: FlowKey) -> bool:
    """Is the flow an encapsulation flowcheck knows and does not read (decode.unread)?"""
    proto, port = key[1], key[4]
    return proto in unread.PROTOCOLS or (proto == IPPROTO_UDP and port in unread.UDP_PORTS)


def _unread(said: str, name: str, first: int) -> tuple[str, str, str]:
    """An encapsulation flowcheck knows by name but does not read: the job may be inside
    it (trial 36 D4: "ethertype 0x88e7, not IP (the sniffer saw none of the job's
    traffic ...)")."""
    encapsulation = unread.BY_NAME[name]
    held = (f"{said} are {name} ({encapsulation.what}), an encapsulation flowcheck does "
            f"not read, from {frame_text(first)}")
    if encapsulation.encrypted:
        return (held, ": the job's traffic may be inside it, not missing from the capture, "
                "but encrypted on that link",
                "Capture on the media server or the agent themselves, or on a port past "
                "the MACsec link, where the job's packets are not encrypted.")
    return (held, ": the job's traffic may be inside it, not missing from the capture "
            f"(the encapsulations flowcheck reads: {doc_page('formats.md')})",
            f"Capture where the job's packets are not in {name}: on the media server or "
            "the agent, or on a switch port or mirror session that delivers them plain, or "
            "in an encapsulation flowcheck reads (VLAN tags, MPLS, GRE, ERSPAN, VXLAN, "
            "Geneve).")


def links_unread_words(packets: int, links: list[int], owner: str = "its") -> str:
    """The one-line error (exit 3) of a capture set whose `packets` are all on link types
    flowcheck does not read (`links`, most packets first): what they are, then the fix,
    as no_control_session says it ("its 86 packets are on link type FRELAY, which
    flowcheck does not read (its link types: 'flowcheck docs formats'). Capture the job
    on ...");
    owner "their" for several files (review 54b: "the 2 capture files: its 87 packets")."""
    said = f"{owner} {packets:,} packet{'s' if packets != 1 else ''}"
    held, why, fix = _unknown_link(said, links[0])
    if len(links) > 1:
        names = ", ".join(linktype_name(link) for link in links)
        held = f"{said} are on link types {names}, which flowcheck does not read"
    return f"{_agreed(held, packets)}{why}. {fix}"


def _unknown_link(said: str, link: int) -> tuple[str, str, str]:
    name = linktype_name(link)
    if link in WIFI_LINKS:
        return (f"{said} are on link type {name} (802.11 Wi-Fi frames), which flowcheck "
                "does not read", f" (its link types: {doc_page('formats.md')})",
                "Capture the job as Ethernet frames: on a wired interface, or on the Wi-Fi "
                "interface without monitor or 802.11 mode (tcpdump without -I; Npcap and "
                "pktmon in their Ethernet mode); a capture with a larger snap length gives "
                "the same 802.11 frames.")
    return (f"{said} are on link type {name}, which flowcheck does not read",
            f" (its link types: {doc_page('formats.md')})",
            "Capture the job on an interface with a link type flowcheck reads (Ethernet, "
            "Linux cooked, raw IP), such as the media server's Ethernet interface toward "
            "the agent.")


def _cut(said: str, skipped: Skipped) -> tuple[str, str, str]:
    where = ""
    if skipped.cut_tunnel:
        kind = skipped.cut_tunnel.split(" / ")[-1].split(" ")[0]
        where = (f" (inside {kind}: the headers of the tunnel {skipped.cut_tunnel} come "
                 "first)")
    at = (f"at {skipped.snap:,} bytes (the capture's snap length)"
          if not skipped.shortest or skipped.shortest == skipped.snap else
          f"by the capture at lengths from {skipped.shortest} to {skipped.snap:,} bytes")
    return (f"{said} were cut {at} before the end of their TCP header{where}",
            ": the sniffer saw them, but not enough of each to read",
            "Capture again with whole packets: tcpdump -s 0 (or dumpcap, whose default "
            "keeps them whole); an old 68- or 96-byte snap length cuts the TCP header, "
            "the more so under tunnel or tag headers.")


def _flow(said: str, key: FlowKey) -> tuple[str, str, str]:
    version, proto, low, high, port, tunnel, ethernet = key
    name = PROTOCOLS.get(proto, f"IP protocol {proto}") if proto >= 0 else \
        "tunnel packets whose payload is not IP,"
    held = f"{said} are {name} between {low} and {high}"
    if port:
        held += f" on port {port}"
    if tunnel:
        held += f" (inside {tunnel})"
    if proto == IPPROTO_UDP and ethernet:
        return (held, ", with Ethernet frames inside: a tunnel (VXLAN, Geneve) on a port "
                "flowcheck does not decode? It reads VXLAN on UDP 4789 and 8472 (and "
                "--vxlan-port), VXLAN-GPE on 4790 and Geneve on 6081 (and --geneve-port)",
                f"If the job's traffic travels in that tunnel, name its port: --vxlan-port "
                f"{port} (--geneve-port {port} for Geneve), or capture where it is not "
                "tunnelled (on the media server or the agent, or on the tunnel endpoint's "
                "overlay interface).")
    if proto == ESP:
        return held, ": encrypted, so the TCP inside cannot be read", INNER_CAPTURE
    if proto == IPPROTO_UDP and port in ENCRYPTED_UDP:
        # By the port alone (its payload is not kept): other programs use it too (field
        # check 40 u1: plain syslog on 51820).
        return (f"{held}, {ENCRYPTED_UDP[port]}'s port", ": if it is that encrypted "
                "tunnel, the TCP inside (the job's, if it travels there) cannot be read",
                f"If that is a VPN tunnel: {lowered(INNER_CAPTURE)}")
    if proto == IPPROTO_ICMPV6 and high.startswith(SOLICITED_NODE) and low == UNSPECIFIED:
        # From the unspecified address: duplicate address detection, a host probing an
        # address of its own before using it (RFC 4862 5.4.2), which no one answers when
        # it is free: no peer being resolved, no sign of the job (field check 79, lab
        # matrix seed 142 run 26: a router's DAD for its link-local address in a capture
        # of its -Q out read as a host failing to resolve a neighbour, "so the job may
        # have failed before it started").
        return (f"{held} (neighbour solicitations from the unspecified address for an "
                f"address ending in {high.removeprefix(SOLICITED_NODE)}: duplicate address "
                "detection, RFC 4862, a host checking that an address of its own is free "
                "before it uses it, not resolving a peer's)", "", "")
    if proto == IPPROTO_ICMPV6 and high.startswith(SOLICITED_NODE):
        # Trial 28 D2: neighbour solicitations are the job's first packets, not noise.
        return (f"{held} (neighbour solicitations of {low} for an address ending in "
                f"{high.removeprefix(SOLICITED_NODE)}, RFC 4861)", RESOLVING,
                RESOLVING_FIX)
    return held, "", ""


def _not_ip(said: str, ethertype: int, own: bool = False) -> tuple[str, str, str]:
    """(what the packets of `ethertype` are, why that holds nothing to judge, the fix or
    ""); own: every one is ARP about the sender's own address (Skipped.arp_own)."""
    if ethertype in MPLS:
        return (f"{said} are MPLS (ethertype 0x{ethertype:04x}) whose payload is not IP",
                ": a pseudowire (Ethernet over MPLS, VPLS) without a control word, which "
                "flowcheck does not read",
                "Capture where the job's packets are plain Ethernet: on the provider edge's "
                "attachment circuit (the port toward the customer), or on the media server "
                "or the agent.")
    name = ETHERTYPES.get(ethertype, f"ethertype 0x{ethertype:04x}" if ethertype > 1500
                          else "802.3 LLC frames")
    if ethertype == ETHERTYPE_ARP and own:
        # Probes from 0.0.0.0 and announcements (sender IP = target IP), RFC 5227: a host
        # checking or claiming an address of its own, no one answering when it is free;
        # no peer being resolved (IPv4's duplicate address detection: _flow's; review 64o).
        return (f"{said} are {name}, not IP (each about an address of the sender's own: a "
                "probe from 0.0.0.0 or an announcement, RFC 5227, a host checking or "
                "claiming an address before it uses it, not resolving a peer's)", "", "")
    if ethertype == ETHERTYPE_ARP:
        return f"{said} are {name}, not IP", RESOLVING, RESOLVING_FIX
    return f"{said} are {name}, not IP", "", ""
