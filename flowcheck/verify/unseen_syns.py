"""Where the evidence of a refusal whose SYN the capture lacks is (a RST or an ICMP
reject alone: a one-direction capture), and the SYN proxy that completed a handshake
before a refusal: the sentences that follow a refusal finding's message. Split from
flowcheck.verify.refusals (which words the refusal itself)."""

from __future__ import annotations

from flowcheck.frame_names import frames_words
from flowcheck.model import Connection
from flowcheck.sessions import quoted_syn_refused, unseen_syn_refused
from flowcheck.sessions.local import icmp_word
from flowcheck.verify.context import Context
from flowcheck.verify.own_unreachable import own_stack_refused
from flowcheck.verify.proxy_words import proxy_words
from flowcheck.verify.way_back import lacking_words


def refusal_notes(ctx: Context, conns: list[Connection]) -> str:
    """The sentences that follow a refusal finding's message: where the evidence of a
    refusal whose SYN the capture lacks is (unseen_syn_words), and the SYN proxy that
    completed the handshake before the refusal (proxy_words); "" when neither."""
    return unseen_syn_words(ctx, conns) + proxy_words(conns[0] if conns else None)


def unseen_syn_words(ctx: Context, conns: list[Connection]) -> str:
    """Where the evidence of refusals whose SYN the capture lacks is
    (flowcheck.sessions.unseen_syn_refused, quoted_syn_refused), as a sentence to follow
    a refusal finding's message; "" when every one of conns holds its SYN."""
    # A SYN its originator's own ICMP refused never left it: own_stack_words say so.
    quoted = [c for c in conns if quoted_syn_refused(c) and not own_stack_refused(c)]
    if quoted:
        frames = [f for c in quoted for f in c.icmp_frames]
        many = len(frames) > 1
        return (" " + syns_not_held(ctx, quoted[0].orig_h, quoted[0].resp_h,
                                    [c.orig_p for c in quoted], quoted[0].ts)
                + f"; the {icmp_word(quoted[0])} unreachable{'s' if many else ''} in "
                f"{frames_words(frames, ranges=False)} quote{'' if many else 's'} "
                f"{quoted_what(quoted)}.")
    unseen = [c for c in conns if unseen_syn_refused(c)]
    if not unseen:
        return ""
    many = len(unseen) > 1
    frames = frames_words([c.rst_frames[0] for c in unseen], ranges=False)
    return (" " + syns_not_held(ctx, unseen[0].orig_h, unseen[0].resp_h,
                                [c.orig_p for c in unseen], unseen[0].ts)
            + f"; the RST{'s' if many else ''} in {frames} "
            f"answer{'' if many else 's'} {'them' if many else 'it'}: RST+ACK, no data, "
            "sequence number 0, as a TCP refuses a SYN.")


def quoted_what(quoted: list[Connection]) -> str:
    """What the ICMP unreachables quote, in the number of the SYNs just named: "them"
    for several connections' SYNs; for one, "it", and its retransmissions when the
    quotes show it resent (seed 111 runs 1 and 5: "the SYN from ... port 5087 ...
    quote them")."""
    if len(quoted) > 1:
        return "them"
    retries = quoted[0].syn_retries
    if not retries:
        return "it"
    return "it and its retransmission" if retries == 1 else \
        f"it and its {retries} retransmissions"


def syns_not_held(ctx: Context, sender: str, receiver: str, ports: list[int],
                  ts: float | None = None) -> str:
    """"The capture does not hold the SYN(s) from SENDER port(s) P (why)": the opening of
    the words for refusals whose SYN the capture lacks (a RST or an ICMP reject alone);
    ts: the first refusal's connection's time (s: its piece of the set, sources.pieces;
    None: the whole set)."""
    distinct = list(dict.fromkeys(str(p) for p in ports))  # a port used again: once
    why = (f": it holds {lacking_words(ctx, sender, receiver, ts)}"
           if (ctx.lacks((sender, receiver), ts) if ts is not None
               else (sender, receiver) in ctx.missing) else "")
    return (f"The capture does not hold the SYN{'s' if len(ports) > 1 else ''} from "
            f"{sender} port{'s' if len(distinct) > 1 else ''} {', '.join(distinct)}{why}")
