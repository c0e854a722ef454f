"""A SYN answered only by path MTU discovery's message: an IPv4 ICMP "fragmentation
needed" (type 3 code 4, RFC 1191) or an ICMPv6 "packet too big" (type 2, RFC 8201)
quoting an opening that got no SYN-ACK or RST. It refuses nothing (connections.
icmp_attach counts it in Connection.too_big_*, never as a reject): a TCP lowers its MTU
on it and retries, a connect too (Linux tcp_v4_err). The opening reads unanswered, and
its words say the capture holds that message rather than nothing (review62c: "got no
answer in the capture" beside the ICMP in the capture).
"""

from __future__ import annotations

from flowcheck.frame_names import frames_words
from flowcheck.model import Connection


def syn_too_big_frames(conn: Connection) -> list[int]:
    """The frames of the fragmentation needed / packet too big messages quoting `conn`'s
    opening, when nothing else answered it (no SYN-ACK, RST or ICMP reject); [] else."""
    if not conn.too_big_count or conn.synack_seen or conn.rst_frames or conn.icmp_frames:
        return []
    return list(conn.too_big_frames)


def syn_too_big_words(conn: Connection) -> str:
    """" (the only packet back in the capture is an ICMP 'fragmentation needed' (type 3
    code 4) from 10.77.9.1 quoting it (frame 23), reporting a next-hop MTU of 1400: path
    MTU discovery's message (RFC 1191), which refuses nothing: a TCP lowers its MTU on it
    and retries)" for a SYN answered only so (syn_too_big_frames), "" else."""
    frames = syn_too_big_frames(conn)
    if not frames:
        return ""
    v6 = ":" in (conn.too_big_sender or conn.resp_h)
    name = "ICMPv6 'packet too big' (type 2)" if v6 else \
        "ICMP 'fragmentation needed' (type 3 code 4)"
    many = conn.too_big_count > 1
    where = frames_words(frames, ranges=False, plural=many) + (
        " ..." if conn.too_big_count > len(frames) else "")
    mtu = f", reporting a next-hop MTU of {conn.too_big_mtu}" if conn.too_big_mtu else ""
    return (f" (the only packet{'s' if many else ''} back in the capture: "
            f"{conn.too_big_count if many else 'an'} {name}"
            f"{' messages' if many else ''} from {conn.too_big_sender} quoting it "
            f"({where}){mtu}: path MTU discovery's message ({'RFC 8201' if v6 else 'RFC 1191'}),"
            " which refuses nothing: a TCP lowers its MTU on it and retries)")


def syn_too_big_tail(conn: Connection) -> str:
    """"; an ICMP 'fragmentation needed' (frame 23), which refuses nothing" for a step's
    detail, "" else."""
    frames = syn_too_big_frames(conn)
    if not frames:
        return ""
    v6 = ":" in (conn.too_big_sender or conn.resp_h)
    name = "ICMPv6 'packet too big'" if v6 else "ICMP 'fragmentation needed'"
    return (f"; {name} ({frames_words(frames, ranges=False, plural=len(frames) > 1)}), "
            "which refuses nothing")
