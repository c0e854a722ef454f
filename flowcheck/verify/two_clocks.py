"""capture_clocks_apart: a reading that compares one host's packets with another's when
the capture stamps them on two clocks apart (flowcheck.sessions.clock_apart proves it).

Two hosts' own captures merged by time (each host's `tcpdump -Q out`, or captures
filtered `src host X`, joined with `mergecap`; no packet in both) stamp each host's
packets on its own clock, and the merge writes them in the order of those stamps: with
the agent's clock 3.5 s behind, its close of the control connection is stamped and
written before the media server's DATA_START_BACKUP that truly came 3 s before it, and
flowcheck read "closed by the agent while the job was running" (`control_closed`, FAIL)
beside a good backup. The handshakes prove a lower and an upper bound of the lag
(clock_apart.LagProof): an event of the host behind, stamped at t, happened on its
peer's clock between t + lag and t + upper. Its order against the peer's events stamped
within (t, t + upper] is then not what the file says, or not known; against the others
it is (the host ahead: [t - upper, t)). A reading that rests on such an order is not
made: the capture cannot tell it, the session's step reads unknown, and
capture_clocks_apart says why and how to capture so that it can. Readings whose order
holds whatever the offset within the bounds stand (an agent killed an hour after the
job's last message on the media server's clock, merged with its clock 10 ms behind).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Said, Session, connection_ends
from flowcheck.sessions.classify import first_fin_by
from flowcheck.sessions.clock_apart import LagProof, lag_proofs
from flowcheck.verify.context import Context

__all__ = ["ClockDoubt", "clock_doubt", "clock_proofs", "doubt_words", "fin_may_precede_reset",
           "may_precede", "own_opening", "own_span", "report_clocks_apart"]

CODE = "capture_clocks_apart"


@fields_dataclass(frozen=True, slots=True)
class ClockDoubt:
    """An event of host `host` (frame, stamped `ts` seconds on its clock) whose order
    against its peer's event at `other` (frame, ts) the two clocks leave open: `behind`
    is the host proven stamped behind `ahead` by `proof`."""

    host: str
    frame: int
    ts: float
    behind: str
    ahead: str
    proof: LagProof
    other: tuple[int, float]


def clock_proofs(ctx: Context) -> dict[tuple[str, str], LagProof]:
    """The capture's lag proofs (clock_apart.lag_proofs over every connection): the
    pipeline's (Context.proofs.clock_lags, from clock_apart.mark_clocks_apart), else found
    once here."""
    if ctx.proofs.clock_lags is None:
        ctx.proofs.clock_lags = lag_proofs(ctx.connections)
    return ctx.proofs.clock_lags


def _lag_between(ctx: Context, host: str, peer: str) -> tuple[LagProof, bool] | None:
    """The proof of a lag between host's and peer's stamps, either way, and whether it
    is host that is stamped behind (the pair (host, peer) looked up first); None when
    the capture proves none between them."""
    proofs = clock_proofs(ctx)
    if not proofs:
        return None
    if (proof := proofs.get((host, peer))) is not None:
        return proof, True
    if (proof := proofs.get((peer, host))) is not None:
        return proof, False
    return None


def clock_doubt(ctx: Context, host: str, peer: str, frame: int, ts: float,
                others: Iterable[tuple[int, float]]) -> ClockDoubt | None:
    """The doubt when host's event (frame, ts: seconds on host's clock) may come in
    another order against one of peer's events `others` ((frame, ts) on peer's clock)
    than their stamps say: host proven behind peer and that event stamped within
    (ts, ts + upper], or host ahead and it stamped within [ts - upper, ts)
    (clock_apart.LagProof.upper). None when the capture proves no lag between them,
    or no such event."""
    if (between := _lag_between(ctx, host, peer)) is None:
        return None
    proof, host_behind = between
    if host_behind:
        lo, hi, behind, ahead = ts, ts + proof.upper, host, peer
        inside = [o for o in others if lo < o[1] <= hi]
    else:
        lo, hi, behind, ahead = ts - proof.upper, ts, peer, host
        inside = [o for o in others if lo <= o[1] < hi]
    if not inside:
        return None
    nearest = min(inside, key=lambda o: abs(o[1] - ts))
    return ClockDoubt(host, frame, ts, behind, ahead, proof, nearest)


def may_precede(ctx: Context, host: str, ts: float, peer: str, than_ts: float) -> bool:
    """May host's event stamped `ts` (its clock) have come at or before peer's event
    stamped `than_ts` (peer's clock)? The earliest time on peer's clock the proven lag
    allows (host behind by at least lag: ts + lag; ahead by at most upper: ts - upper)
    against than_ts; stamps alone when no lag is proven between them (one clock)."""
    between = _lag_between(ctx, host, peer) if host != peer else None
    if between is None:
        return ts <= than_ts
    proof, host_behind = between
    return ts + proof.lag <= than_ts if host_behind else ts - proof.upper <= than_ts


def fin_may_precede_reset(ctx: Context, conn: Connection) -> bool:
    """May the connection's first FIN, written after its first RST and sent by the other
    end, have come before that RST on one clock? Only where the capture proves the two
    hosts' clocks apart (Connection.clocks_apart) and the lag lets the FIN's stamp (its
    sender's clock, Connection.fin_ts) come at or before the RST's (may_precede).
    lab-trial19-refuse/w3-both-rst-close (the media server resetting each data connection
    right after the agent's FIN) merged with the agent's clock 0.5 s ahead had each FIN
    written after the RST and read data_reset, "before any FIN"."""
    if not (conn.clocks_apart and conn.fin_frames and conn.rst_frames
            and conn.fin_ts is not None and conn.rst_ts is not None
            and conn.fin_frames[0] > conn.rst_frames[0]):
        return False
    fin_by = first_fin_by(conn)
    rst_by = conn.first_rsts[0][1] if conn.first_rsts else None
    return fin_by is not None and rst_by is not None and rst_by != fin_by and may_precede(
        ctx, fin_by, conn.fin_ts, rst_by, conn.rst_ts)


def own_opening(ctx: Context, conn: Connection, host: str) -> tuple[int, float] | None:
    """(frame, seconds) of host's own first packet of the connection's opening, its SYN
    or its SYN-ACK, when the capture proves host's clock apart from its peer's: host's
    own packets keep their order in the file and one clock's stamps, so two connections'
    openings compare on them. None on one clock, for a connection host is no end of, or
    without that packet in the capture."""
    peer = conn.resp_h if host == conn.orig_h else conn.orig_h if host == conn.resp_h \
        else None
    if peer is None or _lag_between(ctx, host, peer) is None:
        return None
    if host == conn.orig_h:
        return ((conn.syn_frames[0], conn.syn_ts) if conn.syn_frames and conn.syn_ts is not None
                else None)
    return ((conn.synack_frames[0], conn.synack_ts)
            if conn.synack_frames and conn.synack_ts is not None else None)


def own_span(ctx: Context, conn: Connection, host: str) -> tuple[float, float]:
    """(first, last) seconds of the connection as host's own clock shows it: its own
    first and last packets (the SYN or SYN-ACK it sent, Connection.orig_last_ts /
    resp_last_ts) when the capture proves host's clock apart from its peer's, else the
    connection's (ts, last_ts), the stamps of one clock. A port's use and hold is its
    host's: two hosts' own captures merged, the agent 3.5 s behind, stamped its reused
    data port's next connection (its SYN-ACK) before the last one's end (the media
    server's last ACK), and port_reused_within_hold was not said."""
    whole = (conn.ts, max(conn.last_ts, conn.ts))
    peer = conn.resp_h if host == conn.orig_h else conn.orig_h
    if _lag_between(ctx, host, peer) is None:
        return whole
    first, last = ((conn.syn_ts, conn.orig_last_ts) if host == conn.orig_h
                   else (conn.synack_ts, conn.resp_last_ts))
    if first is None or last is None:
        return whole
    return first, max(first, last)


def report_clocks_apart(ctx: Context, session: Session, control: Connection,
                        doubt: ClockDoubt, event: str, reading: str, code: str,
                        cause: str = "control") -> None:
    """capture_clocks_apart (warning) for a reading not made: `event` names the host's
    event ("the agent 10.77.0.2's close of the control connection ... (FIN, frame N)",
    "NDMP_NOTIFY_DATA_HALTED (frame N)"), `reading` what it would have read ("whether
    the control connection closed while the job ran"), `code` the finding the reading
    would give (control_closed, announced_not_used), `cause` the root cause it is recorded
    under (Context.causes). The session's data step reads unknown (Context.clocks_apart:
    verify.data_flow)."""
    proof, lag = doubt.proof, doubt.proof.lag
    proving = ctx.by_uid.get(proof.uid)
    how = (f"connection {connection_ends(proving)}: " if proving is not None else "")
    first, second = proof.frames
    proved = (f"{how}{doubt.behind}'s packet ({frame_text(second)}) stamped {lag:.3f} s before "
              f"{doubt.ahead}'s packet it answered or followed ({frame_text(first)})")
    message = (
        f"The capture holds two clocks: {doubt.behind}'s packets are stamped at least "
        f"{lag:.3f} s behind {doubt.ahead}'s ({proved}; {_between(proof)}), "
        "each host's own packets merged into one file (each host's tcpdump -Q out, or "
        "captures filtered 'src host', joined with mergecap) while their clocks disagreed. "
        f"{event[0].upper()}{event[1:]} is stamped on {doubt.host}'s clock {_apart(doubt)}, "
        f"stamped on {_peer(doubt)}'s, less than the lag may be: on one clock it may come "
        f"before or after it, so {reading} cannot be told ({code} is not read).")
    shift = f"{lag:.3f}"
    fix = (f"Capture at one point that sees both hosts' packets (a mirror port, or one "
           f"host's capture of both directions), or sync both hosts' clocks (NTP, chrony) "
           f"before capturing; or shift {doubt.behind}'s own capture by the lag before "
           f"merging: editcap -t {shift} BEHIND.pcap BEHIND-shifted.pcap, then mergecap -w "
           f"merged.pcap BEHIND-shifted.pcap AHEAD.pcap ({doubt.behind}'s capture as BEHIND; "
           f"{_between(proof)}).")
    ctx.add(CODE, message, fix, session=session, conn=control,
            frames=[doubt.frame, doubt.other[0], *proof.frames], ts=doubt.ts, cause=cause)
    ctx.clocks_apart[session.id] = doubt_words(doubt, event, reading)


def doubt_words(doubt: ClockDoubt, event: str, reading: str) -> Said:
    """A step's reason the reading cannot be made: "whether ... cannot be told: the
    agent's close ... is stamped on 10.77.0.2's clock, at least 3.500 s behind
    10.77.0.1's, 1.950 s before 10.77.0.1's packet at frame 563, less than the lag may be
    (capture_clocks_apart)", citing it (a Said: review63c, data_flow's step read the code
    with cites ())."""
    return Said(f"{reading} cannot be told: {event} is stamped on {doubt.host}'s clock, "
                f"at least {doubt.proof.lag:.3f} s "
                f"{'behind' if doubt.host == doubt.behind else 'ahead of'} "
                f"{_peer(doubt)}'s, {_apart(doubt)}, less than the lag may be ({CODE})",
                [CODE])


def _apart(doubt: ClockDoubt) -> str:
    """"1.950 s before 10.77.0.1's packet at frame 563": how far the doubt's event is
    stamped from its peer's packet, before it (the host behind's, clock_doubt's
    window after it) or after it (the host ahead's)."""
    gap, frame = abs(doubt.other[1] - doubt.ts), doubt.other[0]
    way = "before" if doubt.other[1] > doubt.ts else "after"
    return f"{gap:.3f} s {way} {_peer(doubt)}'s packet at {frame_text(frame)}"


def _peer(doubt: ClockDoubt) -> str:
    """The other host of the doubt's pair."""
    return doubt.ahead if doubt.host == doubt.behind else doubt.behind


def _between(proof: LagProof) -> str:
    """"the lag lies between 3.500 and 3.620 s" (clock_apart.LagProof's bounds), "the
    lag is 3.500 s to the millisecond" when they round alike, or "nothing in the capture
    bounds the lag from above" when no handshake does (upper math.inf)."""
    if math.isinf(proof.upper):
        return "nothing in the capture bounds the lag from above"
    if f"{proof.lag:.3f}" == f"{proof.upper:.3f}":
        return f"the lag is {proof.lag:.3f} s to the millisecond"
    return f"the lag lies between {proof.lag:.3f} and {proof.upper:.3f} s"
