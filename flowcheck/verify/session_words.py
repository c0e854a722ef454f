"""Plain words about a session that several checks share: the packets its connections
resent, where the capture lost its control connection's opening, and why its
announcements' addresses are not in the capture."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Said, Session, cites_of
from flowcheck.sessions.address_types import unknown_type_words
from flowcheck.verify.context import Context, session_uids


def retransmitted_words(ctx: Context, session: Session, skip: str | None = None) -> str:
    """"11 retransmitted packets (9 on C1, 2 on C3)" (data and SYNs resent) over the
    session's connections but `skip` (a uid); "" when none resent any."""
    counts = [(uid, ctx.by_uid[uid].retransmits + ctx.by_uid[uid].syn_retries)
              for uid in session_uids(session) if uid != skip and uid in ctx.by_uid]
    counts = [(uid, n) for uid, n in counts if n]
    if not counts:
        return ""
    total = sum(n for _, n in counts)
    where = (f"on {counts[0][0]}" if len(counts) == 1
             else "(" + ", ".join(f"{n} on {uid}" for uid, n in counts) + ")")
    return f"{total} retransmitted packets {where}"


def opened_unseen_words(session: Session) -> Said | str:
    """Where the capture lost the opening of a session's control connection (no SYN):
    "before the capture started", "in the gap between ring files A and B
    (capture_ring_gap) or before it" when its first captured packet follows a ring
    buffer's hole, or "in the ring's files older than A ..." (Session.start_gap)."""
    gap = session.start_gap
    if gap is None:
        return "before the capture started"
    words = gap.words()
    return Said(f"in {words}" + ("" if gap.head else " or before it"), cites_of(words))


def cut_announcement_words(session: Session, ctx: Context | None = None) -> Said | str:
    """Plain words for announcements whose address the capture does not hold (or holds
    in an address type flowcheck cannot read: their messages' words need `ctx`)."""
    if session.match_reason == "address_type":
        stream = ctx.stream_by_uid.get(session.control_uid) if ctx else None
        cut = {frame for frame, _, _ in session.cut_announcements}
        unread = [m for m in (stream.messages if stream else []) if m.frame in cut]
        return ((unknown_type_words(unread) if unread else "the announcement's address "
                 "type is one flowcheck cannot read")
                + "; data connections matched by direction and ports instead")
    if session.match_reason == "capture_start":
        opened = opened_unseen_words(session)
        return Said(f"announced {opened}; data connections matched by direction and ports",
                    cites_of(opened))
    if session.match_reason == "packet_filter":
        return Said("the capture holds no packet of the control connection that carries data "
                    "(a filter left them out: capture_filtered), the announcement neither; "
                    "data connections matched by direction and ports instead",
                    ["capture_filtered"])
    if session.match_reason == "capture_loss":
        return Said("the capture misses part of the control connection (capture_loss says "
                    "why: the sniffer's loss, or frames a capture tool or mirror session "
                    "cut), and the announcement may be in it; data connections matched by "
                    "direction and ports instead", ["capture_loss"])
    if session.match_reason == "encrypted":
        stream = ctx.stream_by_uid.get(session.control_uid) if ctx else None
        where = "" if stream is None else (
            f" from {frame_text(stream.tls_start)}" if not stream.tls_whole else
            f" from its first byte ({frame_text(stream.tls_start)}; no NDMP message in the "
            "clear)")
        return Said(f"the control connection carries TLS{where} (ndmp_undecodable), and the "
                    "announcement is inside it; data connections matched by direction and "
                    "ports instead", ["ndmp_undecodable"])
    if session.match_reason == "one_direction":
        return ("the capture holds only one direction of the control connection, so the "
                "announcement may be in the other; data connections matched by direction "
                "and ports instead")
    messages = [f"{name.removeprefix('NDMP_')} ({frame_text(frame)})"
                for frame, name, _ in session.cut_announcements]
    where = (f"the address in {', '.join(messages)} was cut by the capture's snap length"
             if messages else "the control stream was cut by the capture's snap length and "
             "no NDMP message could be read")
    return f"{where}; data connections matched by direction and ports instead"
