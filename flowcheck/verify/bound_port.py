"""A refused data connection whose endpoint its listener had announced: the listener had
bound the port, so "it could not bind the port because it was already in use" does not
follow from the capture (newuser61 6: captures/ndmjob-firewall/v4-media-reject-rst-media,
the media server's nft `reject with tcp reset` read as a port possibly in use).

In plain NDMP a data endpoint is announced only once its listener holds it: the address
in a MOVER_LISTEN or DATA_LISTEN reply is the one the LISTEN listens at, and a DATA_CONNECT
or MOVER_CONNECT request passes on such an address (the DMA has it from that reply).
Backup Exec's profile keeps its own reading (a port in use, the resource skipped:
verify.refusals), as its remote agent may announce a port it holds elsewhere
(captures/lab data-port-in-use).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, Connection, Session
from flowcheck.verify.context import Context

# How a RST to a SYN comes from a firewall: the rules that send one.
RST_RULES = "nft's `reject with tcp reset`, iptables' `REJECT --reject-with tcp-reset`"


def announced_bound(ctx: Context, conn: Connection,
                    session: Session | None = None) -> Announcement | None:
    """The announcement, before conn's first SYN, of the endpoint conn was refused at
    (conn.resp_h, conn.resp_p) in conn's session (or `session`): its listener had bound
    the port. None with a Backup Exec profile, without a session or such an
    announcement."""
    if ctx.profile.backup_exec:
        return None
    session = session or ctx.session_of(conn)
    if session is None:
        return None
    start = conn.syn_ts if conn.syn_ts is not None else conn.ts
    return next((ann for ann in session.announced
                 if (ann.ip, ann.port) == (conn.resp_h, conn.resp_p) and ann.ts <= start),
                None)


def bound_words(conn: Connection, ann: Announcement) -> str:
    """"either nothing listened there any more (its listener had bound the port:
    DATA_CONNECT (frame 11) announced it 0.1 ms before the SYN; it had stopped or closed
    it), or a firewall rejects it with a RST (nft's ..., iptables' ...)"."""
    start = conn.syn_ts if conn.syn_ts is not None else conn.ts
    message = ann.message.removeprefix("NDMP_")
    return (f"either nothing listened there any more (its listener had bound the port: "
            f"{message} ({frame_text(ann.frame)}) announced it {span_words(start - ann.ts)} before "
            f"the SYN; it had stopped or closed it), or a firewall rejects it with a RST "
            f"({RST_RULES})")


def bound_fix(conn: Connection, ann: Announcement, allow: str) -> str:
    """The fix of a refusal at an endpoint its listener had announced: the firewall's
    allow rule first (`allow`, verify.allow_rules.allow_rule), then the listener's logs;
    no port to free."""
    return (f"If a firewall rejects it: {allow}; if none does, the listener on {conn.resp_h} "
            f"had stopped before the SYN came: read its log (the NDMP server's, or the "
            f"DMA's for a mover resident in it) around the announcement ({frame_text(ann.frame)})")
