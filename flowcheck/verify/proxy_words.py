"""The words for a refusal behind a SYN proxy (flowcheck.sessions.syn_proxy): the
handshake the capture shows was a device's, not the responder's. Said after the refusal
findings' messages (flowcheck.verify.unseen_syns.refusal_notes; field check trial 37b).
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection
from flowcheck.sessions.local import icmp_word
from flowcheck.sessions.syn_proxy import proxied, proxied_refusal
from flowcheck.verify.ttl import ttl_word


def proxy_words(conn: Connection | None) -> str:
    """" The SYN-ACK (frame 2, TTL 64) came from a device nearer than 10.77.1.2 ...":
    the words for a refusal behind a SYN proxy (flowcheck.sessions.syn_proxy), "" for
    any other connection."""
    if conn is None or not proxied(conn):
        return ""
    synack = conn.synack_frames[0] if conn.synack_frames else None
    frame = f"{frame_text(synack)}, " if synack is not None else ""
    ttl = ttl_word(conn.resp_h)
    head = (f" The SYN-ACK ({frame}{ttl} {conn.resp_ttl}) did not come from {conn.resp_h}, "
            "although the handshake completed: ")
    tail = ("a SYN proxy between the hosts (a firewall's or load balancer's SYN-flood "
            f"protection) answers SYNs in {conn.resp_h}'s name and opens each connection to "
            f"it only once the handshake completed, so the capture shows a handshake "
            f"{conn.resp_h} never made.")
    if proxied_refusal(conn):
        rst_ttl = conn.evidence("resp").rst_ttl
        return (f"{head}{conn.resp_h}'s own RST ({frame_text(conn.rst_frames[0])}, {ttl} "
                f"{rst_ttl}) crossed more routers to the capture point, so a device nearer "
                f"sent the SYN-ACK: {tail}")
    return (f"{head}the {icmp_word(conn)} unreachable ({frame_text(conn.icmp_frames[0])}) from "
            f"{conn.icmp_sender} came after it, about the SYN sent on to {conn.resp_h}: "
            f"{tail}")
