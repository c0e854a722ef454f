"""capture_loss's words (flowcheck.verify.loss): what the missed bytes are and whose
loss they are, the share and what it is of, the connections named with their gaps and
frames, the openings missed, and the ring or time-cut holes' kind. Pure functions of the
connections and captures the check hands them; no finding is built here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flowcheck.frame_names import frames_words
from flowcheck.model import CaptureInfo, Connection, RingGap, connection_ends, endpoint
from flowcheck.sources.batch import CHUNK_BYTES
from flowcheck.verify.cut_frames import cut_words
from flowcheck.verify.one_way_loss import named_gaps, named_missed, one_way, one_way_words
from flowcheck.verify.openings import MissedOpening

MOST_AFFECTED = 3  # connections named in the message
FRAMES_EACH = 4  # evidence frames per named connection
_CHUNK_MIB = CHUNK_BYTES >> 20  # the read chunk, named in the fragments' words


def unsure_words(conns: list[Connection], total: int, *, also: bool) -> str:
    """capture_loss's sentence for the gaps of connections whose receiver the capture
    holds no packet of (verify.one_way_loss); total: the bytes the capture saw sent or
    acknowledged, missed ones included."""
    missed = sum(named_missed(c) for c in conns)
    gaps = sum(named_gaps(c) for c in conns)
    return one_way_words(conns, missed_words(missed, gaps, conns),
                         f"({share_words(missed, total)})",
                         "; ".join(describe(c) for c in conns[:MOST_AFFECTED]), also=also)


def share_words(missed: int, total: int) -> str:
    """"0.14% of 2,039,096 B, the TCP payload of every packet captured (...)":
    _whole_words."""
    return f"{percent(missed / total if total else 0.0)} of {_whole_words(total)}"


def who_lost(captures: list[CaptureInfo]) -> str:
    """"the sniffer lost them, not the network"; when the capture holds IP fragments
    flowcheck could not put together (CaptureInfo.loose_fragments), that the bytes may
    be in them (trial 28 D9: IPv6 fragments read as 99% sniffer loss); likewise frames
    it could not decode (CaptureInfo.undecodable: cut before the TCP header ends, trial
    36 D5)."""
    loose = sum(c.loose_fragments for c in captures)
    undecodable = sum(c.undecodable for c in captures)
    if not loose and undecodable:
        # Trial 36 D5: frames cut before their TCP header ends are in the file.
        return (f"the network did not lose them: the sniffer did, or they are in the "
                f"{undecodable:,} {plural(undecodable, 'frame')} flowcheck could not "
                "decode (capture_undecodable_packets: cut before the end of their TCP "
                "header, or malformed), so part of them may be in the file")
    if not loose:
        return "the sniffer lost them, not the network"
    return (f"the network did not lose them: the sniffer did, or they are in the {loose:,} "
            f"IP {plural(loose, 'fragment')} flowcheck could not put together into "
            "packets (it reassembles a datagram whose fragments are all in one "
            f"{_CHUNK_MIB} MiB read chunk of the capture, or in two back to back; the "
            "others, and fragments whose rest is not in the capture, are counted, not "
            "read), so part of them may be in the file")


def truncation_words(missed: int, gaps: int, share: float, seen: int,
                     captures: list[CaptureInfo], lossy: list[Connection]) -> str:
    """The missed bytes of a capture whose tool cut frames and recorded them as whole
    (flowcheck.verify.cut_frames), at least one per gap: its truncation, not loss."""
    return (f"The capture misses {missed:,} B of TCP payload in {gaps:,} "
            f"{plural(gaps, 'gap')} across {len(lossy)} {plural(len(lossy), 'connection')} "
            f"({percent(share)} of {_whole_words(missed + seen)}), "
            f"but no packet was lost: {cut_words(captures)}. Each gap is the rest of such a "
            "frame: neither the sniffer nor the network lost it. Most affected: "
            + "; ".join(describe(c) for c in lossy[:MOST_AFFECTED]))


def _whole_words(whole: int) -> str:
    """What the missed share is of: "1,074,587,324 B, the TCP payload of every packet
    captured (resends included, as tshark sums it) and the bytes missed" (Census.payload
    and missed). Not the transfer's size, each byte once, that a step's detail gives
    (newuser60: "1,074,587,324 bytes sent or acknowledged" beside step 4's "1073745920
    B in all" read as two sizes of one stream)."""
    return (f"{whole:,} B, the TCP payload of every packet captured (resends included, "
            "as tshark sums it) and the bytes missed")


def tunnel_words(lossy: list[Connection]) -> str:
    """When the connections with gaps arrived in a tunnel (a mirror session's VXLAN,
    GRE or ERSPAN to a collector, as cloud traffic mirroring delivers them), the mirror
    may have dropped its copies too, which no sequence number of its tells here (field
    check 36b: AWS mirror loss read as the collector's sniffer's only); "" otherwise."""
    tunnel = next((c.tunnel for c in lossy if c.tunnel), None)
    if tunnel is None:
        return ""
    return (f", or the mirror session that delivered them in a tunnel ({tunnel}) dropped "
            "its copies (a mirror drops mirrored packets first when its sources or its "
            "target are loaded: cloud traffic mirroring, a switch's ERSPAN or RSPAN)")


def mirror_words(mirror: int) -> str:
    """Whose loss the gaps are when an ERSPAN mirror's stream skips as many frames."""
    return (f"the network the backup crossed did not lose them; the mirror's ERSPAN stream "
            f"skips {mirror:,} {plural(mirror, 'frame')} (its sequence numbers): they were "
            "lost after the mirror session sent them and before the capture recorded them (an "
            "oversubscribed mirror destination, the network carrying the ERSPAN stream, or "
            "the collector's capture falling behind)")


def missed_words(missed: int, gaps: int, lossy: list[Connection]) -> str:
    """"N B of TCP payload in G gaps (at least as many segments)", with the FINs the
    capture missed (Connection.fins_unseen: one byte and one gap each in missed) said
    apart as FINs (trial 25 D6: two FINs read "2 bytes of TCP payload")."""
    fins = sum(c.fins_unseen for c in lossy)
    fin_words = (f"{fins:,} {plural(fins, 'FIN')} "
                 + ("(connection ends)" if fins > 1 else "(a connection's end)"))
    if fins >= missed:
        return fin_words
    payload, payload_gaps = missed - fins, gaps - fins
    return (f"{payload:,} B of TCP payload in {payload_gaps:,} "
            f"{plural(payload_gaps, 'gap')} (at least as many segments)"
            + (f" and {fin_words}" if fins else ""))


def what_words(missed: int, lossy: list[Connection]) -> str:
    """What the missed bytes are, as the capture shows them."""
    fins = sum(c.fins_unseen for c in lossy)
    fin_words = (("FINs whose acknowledgements" if fins > 1 else
                  "a FIN whose acknowledgement") + " the capture holds (one sequence number "
                 "past the last byte captured, what a FIN takes)")
    if fins >= missed:
        return fin_words
    return ("sequence ranges never seen although later data was, or acknowledged beyond "
            "the last byte captured" + (f"; {fin_words}" if fins else ""))


def _listed_openings(openings: list[MissedOpening],
                     say: Callable[[MissedOpening], str]) -> str:
    """The first MOST_AFFECTED openings, each as say words it, joined by "; ", then
    "; and N more" for the rest."""
    listed = "; ".join(say(o) for o in openings[:MOST_AFFECTED])
    more = len(openings) - MOST_AFFECTED
    return listed + (f"; and {more} more" if more > 0 else "")


def missed_openings_words(openings: list[MissedOpening], *, also: bool) -> str:
    """The connections whose opening handshake packets the sniffer missed
    (flowcheck.verify.openings): "The capture missed opening handshake packets of 1
    connection ...: data connection C3 ...: its SYN, which the SYN-ACK of frame 22
    answers"."""
    count = len(openings)
    listed = _listed_openings(openings, lambda o: f"{_named(o.conn, o.reverse)}: {o.what}")
    return (f"{'It also missed' if also else 'The capture missed'} opening handshake "
            f"packets of {count} {plural(count, 'connection')} that went on without them "
            "(a side sends on only once the handshake reached it, and their later packets "
            "both ways are in the capture), so the sniffer lost them, not the network: "
            f"{listed}")


def between_words(between: list[MissedOpening]) -> str:
    """The openings that may have gone in the time between two files of the set that
    none covers (MissedOpening.between): hedged, since files given in sequence may be
    one sniffer's, rotated without a pause under names that tell it not (-C files
    renamed, two tcpdump -G files alone), and then the time between them is idle time it
    watched (review56j: one tcpdump -G run whose callback SYN and SYN-ACK were lost read
    "missing because nothing of that time is in the set, not shown lost by the sniffer").
    A ring's numbered names, and three or more -G files' time-stamped names, do tell so:
    their neighbours leave no file gap (sources.file_gaps) but where a hole is found."""
    count = len(between)
    listed = _listed_openings(
        between, lambda o: f"{_named(o.conn, o.reverse)}: {o.what}, perhaps in "
                           f"{o.between.words() if o.between else 'a gap'}")
    return (f"The capture set lacks opening handshake packets of {count} "
            f"{plural(count, 'connection')} that went on without them, which may have "
            "been sent in time that lies between two of its files given in sequence and "
            "that none of them covers: if no sniffer ran then (one stopped and started "
            "again, or two capture points' files), nothing of that time is in the set; "
            "if the files are one sniffer's, rotated without a pause under names that do "
            "not tell so (-C files renamed, or two tcpdump -G files alone), it missed them: "
            f"{listed}")


def first_time(named: list[Connection]) -> float:
    """The time of the earliest of the named connections' gap frames (the finding's
    frames; trial 25 D6: it gave the first connection's start, "+0.000s" for gaps 50 ms
    in); the first connection's start when the tracker kept no gap time."""
    times = [ts for c in named for frame, ts in zip(c.gap_frames, c.gap_times, strict=False)
             if frame in gap_frames(c)]
    return min(times, default=named[0].ts)


def gap_frames(c: Connection) -> list[int]:
    """c's gap frames but its lost and untold gaps' first ones (not the sniffer's loss);
    of a connection the capture holds one side of, its untold gaps' too (_counted)."""
    orig, resp = c.evidence("orig"), c.evidence("resp")
    lost = {orig.lost_frame, resp.lost_frame} - {0}
    if not one_way(c):
        lost |= {orig.untold_frame, resp.untold_frame} - {0}
    return [f for f in c.gap_frames if f not in lost][:FRAMES_EACH]


def _named(c: Connection, reverse: bool = False) -> str:
    """"data connection C3 10.77.0.1:5002 -> 10.77.0.2:6001"; reverse: responder ->
    originator (MissedOpening.reverse: it opened the other way round)."""
    role = "" if c.role == "other" else f"{c.role} connection "
    ends = (f"{endpoint(c.resp_h, c.resp_p)} -> {endpoint(c.orig_h, c.orig_p)}" if reverse
            else connection_ends(c))
    return f"{role}{c.uid} {ends}"


def describe(c: Connection) -> str:
    cited = gap_frames(c)
    frames = frames_words(cited, ranges=False)
    gaps = named_gaps(c) - c.fins_unseen
    payload = named_missed(c) - c.fins_unseen
    said = [f"{payload:,} B in {gaps} {plural(gaps, 'gap')}"
            ] if payload > 0 else []
    if c.fins_unseen:
        said.append("both its FINs" if c.fins_unseen > 1 else "its FIN")
    return (f"{_named(c)}: " + " and ".join(said)
            + (f" ({frames})" if frames else ""))


def percent(share: float) -> str:
    return f"{share * 100:.2g}%" if share < 0.01 else f"{share * 100:.1f}%"


def plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def hole_kind(holes: Sequence[RingGap]) -> tuple[str, str, str]:
    """(what has the holes, what is missing, what to analyze): "ring buffer", "ring
    file", "the whole ring (every file of it)"; for files missing from a capture cut by
    time (tcpdump -G, RingGap.rotated) alone "capture cut by time", "file", "every file
    of the capture cut by time"."""
    if holes and all(gap.rotated for gap in holes):
        return "capture cut by time", "file", "every file of the capture cut by time"
    return "ring buffer", "ring file", "the whole ring (every file of it)"
