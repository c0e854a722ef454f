"""The capture_duplicates words for relay copies (flowcheck.connections.relay_copies):
a packet captured as it came in on one interface and again as it left by another, what
the file shows of who captured it so (one router's or bridge's interfaces, two capture
points merged into one file), and the fix that has each packet once. Used by
flowcheck.connections.duplicates, in the words of the capture's IP version (family:
flowcheck.connections.copy_family).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.connections.copy_window import COPY_WINDOW
from flowcheck.connections.relay_copies import RELAY_WINDOW
from flowcheck.durations import span_words

if TYPE_CHECKING:
    from flowcheck.connections.copy_family import CopyFamily
    from flowcheck.connections.relay_copies import RelayCopies


# What unmarked relay copies on another interface at their originals' TTL may be (the
# `unmarked` words of relay_words and all_apart_words).
_UNMARKED_WHY = (
    "the file marking neither as coming in or going out: a bridge captured on several "
    "interfaces at once, each packet as it came in and as it left, or two capture points' "
    "captures (two hosts on one segment) merged into one file, each on an interface of "
    "its own; the file does not tell which")


def of_them(count: int) -> str:
    """"1 of them was" / "3 of them were": how many of a finding's copies a sentence is
    about, the verb in their number."""
    return f"{count:,} of them {'was' if count == 1 else 'were'}"


def handed(relays: RelayCopies) -> bool:
    """Relay copies all marked by the file's Linux cooked headers leaving one host, then
    arriving at another (legs.handed_on): two hosts' captures merged."""
    return relays.count > 0 and relays.handed == relays.count


def _ttl_phrase(routed: int, total: int, family: CopyFamily) -> str:
    """How `total` copies of which `routed` were one TTL lower stand to their originals:
    "at its original's TTL", "at a TTL one lower", "at its original's TTL or one lower"."""
    ttl = family.ttl
    return (f"at its original's {ttl}" if not routed else f"at a {ttl} one lower"
            if routed == total else f"at its original's {ttl} or one lower")


def _router_between(routed: int, family: CopyFamily) -> str:
    """", a router between them where the TTL is one lower" when some copies were
    (`routed`), "" otherwise."""
    return f", a router between them where the {family.ttl} is one lower" if routed else ""


def handed_words(routed: int, total: int, family: CopyFamily) -> str:
    """What `total` copies marked leaving one host, then arriving at another, `routed` of
    them one TTL lower (_ttl_phrase), show."""
    return (f"the file's Linux cooked headers mark each original as sent by the host that "
            f"captured it (outgoing) and its copy as arriving at the host that captured it, "
            f"{_ttl_phrase(routed, total, family)}: two hosts' captures (tcpdump -i any on "
            f"each) merged into one file, the sender's and the receiver's"
            f"{_router_between(routed, family)}")


def tied_words(relays: RelayCopies) -> str:
    """The clause for the pairs of one timestamp counted as handed on the other way round
    (RelayCopies.handed_near, near_tied): "" without any."""
    tied = relays.near_tied + relays.near_tied_routed
    if not tied or not relays.near_handed + relays.near_handed_routed:
        return ""
    each = "" if tied == 1 else ", each"
    return (f" ({of_them(tied)} captured{each} at the very timestamp of its original, "
            "the arriving copy put first: a merge orders the packets of one timestamp by "
            "file, not as they were sent)")


def _near_lead(read: int, copies: int, icmp: int, what: str) -> str:
    """near_words' subject: the `what` (marks, interfaces, link headers) of the `read`
    copies of `copies` in all, `icmp` of them copies of ICMP errors, which the sample
    (copies.py's, TCP packets' only) never reads. Not "the first N copies'": the copies
    not read may lie among those read (lab matrix seed 142 run 18: 47 TCP copies read,
    the 5 ICMP errors' copies between them, read "The first 47 copies' marks")."""
    if read >= copies:
        return f"The copies' {what}"
    if icmp and read + icmp == copies:
        return (f"The {what} of the {read:,} TCP copies (the {icmp:,} copies of ICMP "
                "errors are not read)")
    return f"The {what} of {read:,} of the {copies:,} copies (those read: not every copy's is)"


def near_words(relays: RelayCopies, copies: int, family: CopyFamily, icmp: int = 0) -> str:
    """What the Linux cooked marks of the copies within copy_window.COPY_WINDOW read
    (RelayCopies.note_near's sample) show, when every one read is marked alike, a
    sentence ending in ". ": each leaving one host, then arriving at another (handed_on),
    or each arriving at the capture host, then leaving it (forwarded); "" otherwise.
    copies: how many copies the capture holds (the sample may be all of them); icmp: of
    them, the copies of ICMP errors (CaptureCopies.icmp_count: never in the sample)."""
    read = relays.near_read
    if not read:
        return ""
    plain, routed = relays.handed_near
    if plain + routed == read:
        shown = handed_words(routed, read, family)
        return (f"{_near_lead(read, copies, icmp, 'marks')} tell where they were captured: "
                f"{shown}{tied_words(relays)}. ")
    if relays.near_named == read:
        ttl = family.ttl
        how = (f"at its original's {ttl}: a bridge's" if not relays.near_named_routed else
               f"one {ttl} lower: a router's" if relays.near_named_routed == read else
               f"at its original's {ttl} or one lower: a bridge's or router's")
        return (f"{_near_lead(read, copies, icmp, 'marks')} tell where they were captured: "
                "the file's Linux cooked "
                "headers mark each original as arriving at the capture host and its copy as "
                f"leaving it by another interface, {how} several interfaces captured at "
                "once (tcpdump -i any on it), each packet as it came in and as it left. ")
    if relays.near_apart == read:
        return (f"{_near_lead(read, copies, icmp, 'interfaces')} tell where they were "
                "captured: "
                f"{apart_words(relays, family)}. ")
    if relays.near_macs_routed == read:
        # A plain Ethernet capture: a router rewrites both MAC addresses and lowers the
        # TTL, so each copy was captured after a router forwarded its original (lab
        # matrix seed 124 run 0, both hosts' captures merged, a router between, read
        # "Either the capture point saw them twice ... or the network delivered them
        # twice"); a device duplicating a packet sends both copies at one TTL.
        ttl = family.ttl
        return (f"{_near_lead(read, copies, icmp, 'link headers')} tell where they were "
                "captured: the file holds each "
                f"under another MAC address pair than its original, at a {ttl} one lower: "
                "captured again after a router forwarded it, the file marking neither as "
                "coming in or going out: a router's several interfaces captured at once (a "
                "mirror of two of its ports, a capture of two of its interfaces), each "
                "packet as it came in and as it left; one port of a router that sends each "
                "back out the way it came (a router-on-a-stick: its VLANs on one trunk, or "
                "two subnets on one segment), captured there; or two capture points' "
                "captures a router apart (one on each side of it) merged into one file; the "
                "file does not tell which. Not copies a device duplicated: it sends both at "
                f"one {ttl}. ")
    return ""


def apart_words(relays: RelayCopies, family: CopyFamily) -> str:
    """What copies within copy_window.COPY_WINDOW on another of the file's interfaces
    than their originals, none marked coming in or going out (RelayCopies.near_apart:
    a pcapng's interfaces), show: one host's stacked interfaces (at one TTL), a bridge's
    or router's several interfaces, or two capture points, the file cannot tell which;
    not the network's copies (lab matrix seed 118 run 1, both hosts' dumpcap captures
    merged keeping both interfaces, read "Either the capture point saw them twice ... or
    the network delivered them twice")."""
    routed, read = relays.near_apart_routed, relays.near_read
    ttl = _ttl_phrase(routed, read, family)
    device = ("a bridge's" if not routed else "a router's" if routed == read
              else "a bridge's or router's")
    apart = _router_between(routed, family)
    # A host's stacked interfaces (a VLAN or bond interface and the one under it) give
    # each packet of its own twice at one TTL, by the same bytes as a bridge's (review
    # 51b: this function's test input is a bond and its member captured on one host).
    stacked = ("" if routed == read else
               "one host's stacked interfaces captured together (a VLAN or bond interface "
               "and the interface under it: dumpcap -i eth0 -i eth0.100 on it), each packet "
               "on each, or ")
    return (f"the file holds each on another of its interfaces than its original, {ttl}, "
            f"marking neither as coming in or going out: {stacked}one capture of "
            f"{device} several interfaces at once (dumpcap -i A -i B on it), each packet "
            "as it came in and as it left, or two capture points' captures merged into one "
            "file (or two mirror ports captured by one dumpcap), each on an interface of its "
            f"own{apart}; the file does not tell which. Not copies the network delivered "
            "twice: a capture point sees those arrive twice on one interface")


def near_fix(relays: RelayCopies) -> str:
    """The fix for copies near_words read: one of the file's interfaces alone when
    they are on another interface than their originals, unmarked (apart_words), one
    side of the router when a router forwarded each under another MAC pair
    (near_macs_routed, MACS_FIX); "" for the others (the caller's)."""
    if relays.near_read and relays.near_macs_routed == relays.near_read:
        return MACS_FIX
    if not relays.near_read or relays.near_apart != relays.near_read:
        return ""
    return UNMARKED_FIX


# Why two capture points' copies are kept (TWO_POINTS_FIX's words: duplicates.py):
# they are the evidence that places a loss between the points (newuser63: a router's
# two interfaces in one pcapng were told "analyze one capture point's files at a time,
# or drop the copies with editcap -D", the same points as two files "keep giving both
# points' captures together").
KEEP_WHY = ("what one point saw and the other did not places a loss between them, and "
            "flowcheck counts each packet once all the same")

# The fix for copies a router apart that the file does not mark (a pcapng's interfaces,
# a plain Ethernet capture's MAC pairs): keep them; one capture point's or interface's
# packets to judge it alone.
ROUTED_FIX = ("nothing to fix in the network for the copies; keep both sides' packets "
              f"together ({KEEP_WHY}), and to judge one capture point or interface alone, "
              "analyze its packets alone (a pcapng of several interfaces: tshark -r FILE -Y "
              "\"frame.interface_id == N\" -w ONE.pcapng)")


# The fix for copies a router forwarded under another MAC pair (near_macs_routed): one
# side of the router, which each packet crosses once; a router-on-a-stick's one port
# holds both (review 54h: a capture of its one port read "mirror or capture one port of
# the router").
MACS_FIX = ("nothing to fix in the network for the copies; keep both sides of the router "
            f"together ({KEEP_WHY}), and to judge one side alone, keep the frames to and "
            "from one host's MAC address (tshark -r FILE -Y \"eth.addr == MAC\" -w "
            "ONE.pcap) or analyze one capture point's packets alone")


# The fix for copies on another of a file's interfaces, neither marked coming in or
# going out: the file cannot tell one host's interfaces from two capture points'.
UNMARKED_FIX = ("nothing to fix in the network for the copies; keep the file's interfaces "
                f"together (if they are two capture points', {KEEP_WHY}), and to judge "
                "one alone, analyze one of the file's interfaces "
                "alone (tshark -r FILE -Y \"frame.interface_id == N\" -w ONE.pcapng)")


def unmarked(relays: RelayCopies) -> bool:
    """Relay copies all bridged (one TTL) and none marked forwarded by the file (a
    pcapng's interfaces, no incoming or outgoing mark): one host's interfaces or two
    capture points' captures merged, as the file cannot tell (not clock_like's)."""
    return (relays.count > 0 and relays.bridged == relays.count and not relays.forwarded
            and not relays.clock_like)


def unmarked_routed(relays: RelayCopies) -> bool:
    """Relay copies some of which are one TTL lower (routed), none marked forwarded by
    the file (a pcapng's interfaces, a MAC pair: no incoming or outgoing mark) and not
    clock_like: a router's interfaces captured at once or two capture points a router
    apart merged, as the file cannot tell."""
    return relays.count > 0 and relays.routed > 0 and not relays.forwarded \
        and not relays.clock_like


def relay_words(relays: RelayCopies, family: CopyFamily) -> str:
    """The words for the relay copies ("" without any), a sentence ending in ". "."""
    if not relays.count:
        return ""
    ttl = family.ttl
    how = ("one lower (routed)" if not relays.bridged else "equal (bridged)"
           if not relays.routed else "one lower (routed) or equal (bridged)")
    lost = (f"; and {relays.orphans:,} more were captured as such copies leave (by that "
            f"interface, with that {ttl}) without their copy from the interface they came in "
            f"on ({relays.orphans:,} against {relays.count:,} pairs: "
            + ("which the sniffer most likely dropped, as one that falls behind drops a "
               "few, tcpdump -i any among them" if relays.dropped_likely else
               "too many for a sniffer falling behind: the capture lacks those ingress "
               "copies, for a reason it does not show")
            + "; their bytes count as the capture's loss)" if relays.orphans else "")
    if relays.held:
        lost = held_words(relays) + lost
    if handed(relays):
        # Leaving one host, then arriving at another: its sender's capture and its
        # receiver's, merged (lab matrix seed 117 run 20, both hosts' -i any merged, read
        # "the file marking neither as coming in or going out").
        shown = handed_words(relays.handed_routed, relays.count, family)
        return (f"{of_them(relays.count)} told by where they were captured, up to "
                f"{span_words(relays.longest)} after the original: {shown}{lost}. ")
    if relays.clock_like:
        return (f"{of_them(relays.count)} told by where they were captured: another "
                f"of the file's interfaces, each with its original's {ttl}, every one "
                f"{_late(relays)} after it. "
                "A bridge captured on two interfaces at once forwards a packet in "
                "microseconds when its queue is empty; a delay this constant is more likely "
                "two capture points' captures merged into one file (mergecap, each on an "
                "interface of its own) while their clocks were that far apart"
                f"{lost}. ")
    if unmarked(relays):
        # One TTL and no interface marked incoming or outgoing (a pcapng's interfaces):
        # a bridge captured on two of them, or two hosts on one segment captured each on
        # its own and merged keeping both (lab matrix seed 115 run 16, both hosts merged,
        # read "a router's or bridge's ... tcpdump -i any on it").
        return (f"{of_them(relays.count)} told by where they were captured: another "
                f"of the file's interfaces, each with its original's {ttl}, up to "
                f"{span_words(relays.longest)} after it, {_UNMARKED_WHY}{lost}. ")
    if unmarked_routed(relays):
        # No incoming or outgoing mark: a router captured on two interfaces (dumpcap -i
        # a -i b) and two capture points a router apart merged (lab matrix seed 117 run
        # 9, both hosts' dumpcap files merged, read "tcpdump -i any on it") look alike.
        return (f"{of_them(relays.count)} told by where they were captured: another "
                "of the file's interfaces or another MAC address pair, up to "
                f"{span_words(relays.longest)} after the original, its {ttl} {how}, the "
                "file marking neither as coming in or going out: a router's several "
                "interfaces captured at once (a mirror of two of its ports, a capture of "
                "two of its interfaces), each packet as it came in and as it left, or two "
                "capture points' captures a router apart (one on each side of it) merged "
                f"into one file; the file does not tell which{lost}. ")
    return (f"{of_them(relays.count)} told by where they were captured: a router's "
            "or bridge's, captured on several interfaces at once (tcpdump -i any on it), "
            "each packet it forwarded as it came in on one interface and again as it left "
            "by another (another interface index, pcapng interface or MAC address pair), up "
            f"to {span_words(relays.longest)} later (the time it waited in the queue), its "
            f"{ttl} {how}{lost}. ")


def all_apart_words(relays: RelayCopies, copies: int, family: CopyFamily) -> str:
    """The words for relay copies (`unmarked`: another of the file's interfaces, at their
    originals' TTL, unmarked) when every copy within copy_window.COPY_WINDOW was read and
    is on another interface than its original at its TTL too (RelayCopies.near_apart):
    all the copies read told alike, counted together, a sentence ending in ". "; ""
    otherwise (relay_words then tells the relay copies alone). copies: the capture's
    copies in all (the near copies read are a sample, RelayCopies.note_near's: at most
    near_copies.NEAR_SAMPLE, and a copy found by another rule is not read), so when
    fewer than all were read the words say how many were and that they are not all.
    Lab matrix seed 120 run 16 (both hosts' dumpcap captures merged keeping both
    interfaces) read "2 of them were told by where they were captured: another of the
    file's interfaces ..." of 23 copies, all 23 on the other interface."""
    near = relays.near_read
    if (not unmarked(relays) or relays.held or relays.orphans or not near
            or relays.near_apart != near or relays.near_apart_routed):
        return ""
    lead, late = _all_read(relays, copies, "interfaces")
    return (f"{lead} told by where they were captured: another of the file's "
            f"interfaces, each with its original's {family.ttl}, {near:,} within "
            f"{COPY_WINDOW * 1e3:g} ms of it and {relays.count:,} later ({late} after it), "
            f"{_UNMARKED_WHY}. Not copies the network delivered twice: a capture point sees "
            "those arrive twice on one interface. ")


def all_handed_words(relays: RelayCopies, copies: int, family: CopyFamily) -> str:
    """The words for relay copies all marked leaving one host, then arriving at another
    (`handed`: two hosts' Linux cooked captures merged) with the copies within
    copy_window.COPY_WINDOW read marked so too (RelayCopies.near_handed,
    near_handed_routed): those told alike, counted together, a sentence ending in ". ";
    "" when no near copy is so marked (relay_words then tells the relay copies alone).
    copies: the capture's copies in all (the near copies read are a sample, as
    all_apart_words says). When every near copy read is so marked the lead says all (or
    all of those read); when some are not (a host's own packet sent twice, each captured
    leaving it: lab matrix seed 123 run 10's two SYN-ACKs for a SYN and its resend), it
    counts those told. Relay copies a router held for its next hop's address
    (RelayCopies.held) are said after (held_words). Lab matrix seed 121 run 20 (both
    hosts' `tcpdump -i any` merged) read "1 of them was told by where they were
    captured, up to 4.0 ms after the original: ..." of 9 copies, the 8 others within 0.5
    ms marked alike; seed 123 run 10 (the same, a router between) "1 of them was told
    ..., up to 1020.2 ms ..." of 26, 21 others so marked within 0.5 ms, and its held
    copy "or captured at two points whose clocks disagree by as much"."""
    near = relays.near_read
    plain, routed = relays.handed_near
    near_handed = plain + routed
    if not handed(relays) or relays.orphans or not near_handed:
        return ""
    if near_handed == near:
        lead, late = _all_read(relays, copies, "marks")
    else:
        lead, late = of_them(near_handed + relays.count), _late(relays)
    shown = handed_words(relays.handed_routed + routed, near_handed + relays.count,
                         family) + tied_words(relays)
    held = held_words(relays) if relays.held else ""
    return (f"{lead} told by where they were captured, {near_handed:,} within "
            f"{COPY_WINDOW * 1e3:g} ms of the original and {relays.count:,} later ({late} "
            f"after it): {shown}{held}. ")


def relay_told(relays: RelayCopies, copies: int, family: CopyFamily) -> str:
    """What the capture's copies show when some are relay copies: all of them told alike
    when the near ones read are marked as the relay ones (all_apart_words: a pcapng's
    interfaces; all_handed_words: two hosts' Linux cooked captures merged), else the
    relay ones alone (relay_words); a sentence ending in ". ". copies: the copies in all."""
    return (all_apart_words(relays, copies, family)
            or all_handed_words(relays, copies, family) or relay_words(relays, family))


def _all_read(relays: RelayCopies, copies: int, read: str) -> tuple[str, str]:
    """all_apart_words' and all_handed_words' (lead, late): "All of them were", or when
    fewer than the `copies` in all were read (near_read: a sample, copies.py's
    NEAR_SAMPLE) "Of the N of them whose `read` (interfaces, marks) were read (not every
    copy's is), all were"; and how long after their originals the relay copies came,
    "4.0 ms" or "0.5 to 4.0 ms" (milliseconds, one decimal)."""
    told = min(relays.near_read + relays.count, copies)
    # The copies whose interfaces or marks were not read (past the sample, or found by
    # another rule) are not known otherwise: the count says what was read, not that they
    # differ (review 52a: "22 of them were told" of 23 read as one copy told apart).
    lead = ("All of them were" if told == copies else
            f"Of the {told:,} of them whose {read} were read (not every copy's is), all were")
    return lead, _late(relays)


def _late(relays: RelayCopies) -> str:
    """How long after their originals the relay copies came, "4 ms" or "0.5 to 4 ms"
    (span_words: 3 significant digits, as every duration in the findings)."""
    shortest, longest = span_words(relays.shortest), span_words(relays.longest)
    return longest if shortest == longest else f"{shortest} to {longest}"


def held_words(relays: RelayCopies) -> str:
    """The clause for the relay copies over RELAY_WINDOW after their originals with
    their TSvals (RelayCopies.held, at least one): "; 2 of them over 1 s after ...".
    A router's neighbour queue (relay_copies.NEIGHBOUR_HOLD; field check 54, seed 117
    run 24: a SYN's copies 2.05 s late read as resends before) only when a relay copy
    came sooner or their delays spread over RELAY_WINDOW / 2 (a queue releases what it
    held at once, each copy as late as its original is early): two points' captures
    merged, one clock over 1 s ahead, put every copy that late by the same offset, the
    same TSvals and all (review 50: a connection captured a router apart, the far
    point's clock 2 s ahead, read as 22 packets held for the next hop's address), unless
    the file marks every copy forwarded by one router (one_router: one clock), or the
    near copies, marked leaving one host and arriving at another, crossed a router too
    (one clock for both captures) and the held ones were captured within RELAY_WINDOW /
    2 of each other (held_first, held_last: unknown never reads so)."""
    late = f"; {relays.held:,} of them over {RELAY_WINDOW:g} s after the original with its TSval"
    if (relays.held < relays.count or relays.longest - relays.shortest > RELAY_WINDOW / 2
            or one_router(relays)):
        return (f"{late}: held by a router while it resolved the next hop's link-layer "
                "address (a neighbour queue keeps them up to 3 s), sent once")
    if (handed(relays) and relays.handed_near[1]
            and 0 <= relays.held_last - relays.held_first <= RELAY_WINDOW / 2):
        # Copies marked leaving one host and arriving at the other within COPY_WINDOW,
        # across a router as the held ones: the two captures' clocks agree that closely,
        # so the late copy was held, not shifted by a clock (lab matrix seed 123 run 10:
        # the router's SYN held 1.02 s while it solicited the agent's address, 21 copies
        # within 0.5 ms). Only when the near copies crossed a router too and the held
        # ones came out together, as a queue sends them: review 54d's three hosts'
        # captures merged (a third host's clock 1.02 s ahead, its 7 SYNs over 6 s each
        # 1020 ms late, the near copies another pair's on one segment) read "held by a
        # router ..., the two captures' clocks agree".
        return (f"{late}: held by a router while it resolved the next hop's link-layer "
                "address (a neighbour queue keeps them up to 3 s), sent once: the copies "
                f"within {COPY_WINDOW * 1e3:g} ms of their originals show the two captures' "
                "clocks agree")
    return (f"{late}, each about as late: sent once, and either held by a router that long "
            "(a neighbour queue keeps them up to 3 s while it resolves the next hop's "
            "link-layer address) or captured at two points whose clocks disagree by as much")


def one_router(relays: RelayCopies) -> bool:
    """Whether every relay copy is one TTL lower than its original and the file's Linux
    cooked headers mark the original arriving at the capture host and the copy leaving it
    (legs.forwarded): one router's own capture, on one clock. Two points' captures merged
    cannot look so: there the copy marked leaving is the sender's, at a TTL no lower than
    the receiver's capture holds (lab matrix seed 119 run 18, `tcpdump -i any` on the
    router, a SYN held 1.03 s read "or captured at two points whose clocks disagree")."""
    return (relays.count > 0 and relays.forwarded == relays.count
            and relays.routed == relays.count)


def relay_fix(relays: RelayCopies) -> str:
    """The fix for copies of one capture file that relay copies were told among: read
    each point alone (clock_like: two points merged), one interface alone (unmarked,
    unmarked_routed: the file cannot tell), or capture one interface of the router."""
    if relays.clock_like or handed(relays):
        return ("nothing to fix in the network for the copies; to judge one capture point "
                "alone, analyze its capture alone (given as separate files, two points' "
                "captures are read on one clock)")
    if unmarked_routed(relays):
        return ROUTED_FIX
    if unmarked(relays):
        return UNMARKED_FIX
    return ("nothing to fix in the network for the copies; for each packet once, capture "
            "one interface of the router (tcpdump -i IFACE, the one toward the media server "
            "or the agent) instead of -i any")
