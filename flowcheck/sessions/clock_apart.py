"""How far one host's packets are proven stamped behind another's: the two directions
of their connections stamped on two clocks.

One capture point stamps every packet on one clock, so a connection's packets keep
TCP's order in time: the SYN-ACK after the SYN it answers, the originator's first data
after the SYN-ACK it waited for (RFC 9293 3.5). A capture set made of each host's own
packets (each host's `tcpdump -Q out`, or two captures filtered `src host X`, merged
with `mergecap`: two clocks in one file, nothing to learn an offset from since no packet
is in both) stamps each direction on its host's clock: a SYN-ACK stamped before its SYN,
or data before the SYN-ACK, is then not order but the clocks apart, by at least the
difference (a lower bound: the true offset is that plus the answer's own delay).

Matching (flowcheck.sessions.matching) takes a connection to an announced endpoint
stamped that much earlier than the announcement as following it: the connector's SYN
is stamped on the connector's clock, the announcing message on its sender's
(an agent's clock an hour behind read 'the capture holds no connection to it',
announced_not_used, beside the job's own data connection to exactly that endpoint).

One clock can write a SYN-ACK before the SYN it answers too: the sniffer lost the first
SYN, its SYN-ACK was captured and then lost on the way back, and the SYN resent a
timeout later (1 s) is written after that SYN-ACK, then answered again: "SYN-ACK, SYN,
SYN-ACK", a lag of one timeout proven where there is none. So a lag is dropped when the
same host pair shows its host answering a SYN in order (`_in_order`): a host stamped
behind its peer by the lag answers the peer's SYN stamped before it, and sends a
SYN-ACK stamped after it only when it answers more than the lag after the SYN reached
it, which a SYN-ACK (sent on the SYN's arrival) does not. Two clocks write "SYN-ACK,
SYN, SYN-ACK" too: the responder behind by less than its retransmission timeout
resending its SYN-ACK (its peer's ACK lost; RFC 6298, 1 s), stamped after the SYN. A
handshake with a SYN-ACK written before its first SYN and one after its last
(`_straddles`) is either, so it proves no lag and cancels none: the pair's other
handshakes decide. And a true lag smaller than one handshake's slow answer writes that
SYN-ACK after its SYN too: a handshake cancels only a lag larger than its own round
trip allows (`_in_order`; review 51d).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection, other_direction

__all__ = ["MIN_APART_SECONDS", "LagProof", "data_before_answer", "lag_allowed", "lag_proofs",
           "lead_allowed", "mark_clocks_apart"]

# A lag this small is a merged capture's or SPAN port's jitter, which the announcement
# matching already allows (ANNOUNCEMENT_JITTER_SECONDS, 5 ms): only a larger one says the
# directions are on two clocks.
MIN_APART_SECONDS = 0.005
# The most a handshake's answer takes when its round trip is not in the capture: TCP's
# initial retransmission timeout (RFC 6298), a lag proof's upper bound then (LagProof).
_NO_ROUND_TRIP = 1.0


@fields_dataclass(frozen=True, slots=True)
class LagProof:
    """How far a host's packets are proven stamped behind its peer's: at least `lag`
    seconds, at most `upper` (the same handshake's other packets bound it: `_lags`;
    math.inf when none does), shown by connection `uid`'s packets at `frames` (the
    later-stamped packet first: the SYN, or the SYN-ACK its originator's data came
    before, then that answer or that data)."""

    lag: float
    upper: float
    uid: str
    frames: tuple[int, int]


def _lags(conn: Connection) -> Iterable[tuple[str, str, LagProof]]:
    """(host behind, host ahead, proof) each proof in one connection's handshake gives.

    A SYN-ACK stamped and written before the first SYN: the responder behind. The
    originator's first data stamped and written before the first SYN-ACK: the originator
    behind (it sends data only once the SYN-ACK reached it; not data in the SYN itself,
    TCP Fast Open's, RFC 7413, which comes before any answer).

    The upper bound: a responder behind by a lag stamps its SYN-ACK at least that lag
    behind the SYN's stamp, and its originator's ACK of it (Connection.rtt after the SYN,
    on the originator's clock) came after the SYN-ACK was sent, so the lag is at most the
    proven one plus that round trip (none known: 1 s, TCP's initial retransmission
    timeout, RFC 6298, which a handshake's answer comes well within). Not when the SYN
    was sent again (`_resent_upper`). An originator behind sent its SYN before the
    SYN-ACK answering it: the lag is at most the SYN-ACK's stamp less the SYN's; without
    its SYN in the capture nothing bounds it (math.inf): its first data captured may
    have left any time after the SYN-ACK came (its own capture started later, or the
    job sent nothing for seconds), so the SYN-ACK's stamp less the data's, plus 1 s, is
    no bound."""
    if not conn.synack_frames or conn.synack_ts is None:
        return
    answer = conn.synack_frames[0]
    # Each proof holds only when the file's order agrees with the stamps (the later
    # packet written first, as a merge by time writes it): one capture point whose
    # clock was set back between the two packets writes them in the order it saw them,
    # stamped the other way round, by the step however large (capture_clock_stepped;
    # a 30 s step in v4-backup's control handshake proved the agent 30 s behind).
    if conn.syn_ts is not None and conn.syn_frames and answer < conn.syn_frames[0] \
            and not _straddles(conn):
        lag = conn.syn_ts - conn.synack_ts
        upper = (_resent_upper(conn, lag) if len(conn.syn_frames) > 1 or conn.syn_retries
                 else lag + (conn.rtt if conn.rtt is not None else _NO_ROUND_TRIP))
        yield conn.resp_h, conn.orig_h, LagProof(lag, upper, conn.uid,
                                                 (conn.syn_frames[0], answer))
    lag = data_before_answer(conn)
    if lag is not None and conn.orig_first_data is not None:
        upper = conn.synack_ts - conn.syn_ts if conn.syn_ts is not None else math.inf
        yield conn.orig_h, conn.resp_h, LagProof(lag, max(lag, upper), conn.uid,
                                                 (answer, conn.orig_first_data[0]))


def _resent_upper(conn: Connection, lag: float) -> float:
    """The most a responder stamped `lag` seconds behind its originator's first SYN can
    be behind when the originator sent its SYN again: its SYN-ACK may answer a later SYN
    (the first ones lost on the way: a listener's queue full, a firewall's rule added
    late), sent 1, 3, 7 s after the first (RFC 6298 backoff), and Connection.rtt runs
    from the last SYN, whose stamp the record does not keep. The SYN-ACK still came
    before the originator's first data (not a SYN's) and, once it ACKed the SYN-ACK,
    before its last packet; before 1 s after that last packet when the originator never
    ACKed (its last a SYN the SYN-ACK answered, within 1 s). Seconds on the originator's
    clock, less the SYN-ACK's stamp: the least of those the record holds (its last
    packet of either side, Connection.last_ts, when the originator's own is not kept)."""
    assert conn.synack_ts is not None
    last = conn.orig_last_ts if conn.orig_last_ts is not None else conn.last_ts
    bounds = [last + (0.0 if conn.established else _NO_ROUND_TRIP) - conn.synack_ts]
    first = conn.orig_first_data
    if first is not None and first[0] not in conn.syn_frames:
        bounds.append(first[1] - conn.synack_ts)
    return max(lag, min(bounds))


def data_before_answer(conn: Connection) -> float | None:
    """Seconds by which the originator's first data is stamped before the connection's
    first SYN-ACK when it is also written before it (frame order): the originator had an
    answer already, a SYN-ACK the sniffer lost or one stamped on another clock; None when
    it is not so written, or no SYN-ACK or data is captured. Not data in a SYN (TCP Fast
    Open, RFC 7413: sent before any answer). The seconds may be 0 or less (stamped
    after it though written before): the callers' threshold decides."""
    first = conn.orig_first_data
    if (first is None or not conn.synack_frames or conn.synack_ts is None
            or first[0] in conn.syn_frames or first[0] >= conn.synack_frames[0]):
        return None
    return conn.synack_ts - first[1]


def _straddles(conn: Connection) -> bool:
    """Is a SYN-ACK written before the connection's first SYN and another after its last
    (frame order)? One clock's lost SYN resent, or two clocks' SYN-ACK resent: the
    module's docstring; such a handshake says nothing of the clocks."""
    syns, answers = conn.syn_frames, conn.synack_frames
    return bool(syns and answers) and answers[0] < syns[0] and answers[-1] > syns[-1]


def _in_order(conn: Connection) -> tuple[str, str, float] | None:
    """(responder, originator, the largest lag it allows in seconds) when the
    connection's responder answered a SYN in order: its last SYN-ACK written after its
    last SYN (a handshake's only one, normally) and none before its first (`_straddles`:
    a SYN-ACK resent on two clocks writes that too); None otherwise.

    A responder stamped behind by a lag sent that SYN-ACK the lag after its stamp, and
    the originator's ACK of it (Connection.rtt after the SYN, both on the originator's
    clock) came later still: a handshake of one SYN and one SYN-ACK allows a lag up to
    its round trip less the SYN-ACK's stamp after the SYN. A SYN-ACK stamped 4 ms after
    its SYN and ACKed 30 ms after it fits a lag of 26 ms (a slow answer on two clocks);
    one clock ACKed 4.2 ms after the SYN fits none. Without that round trip: 0, no lag."""
    syns, answers = conn.syn_frames, conn.synack_frames
    if not syns or not answers or answers[-1] < syns[-1] or _straddles(conn):
        return None
    allowed = 0.0
    if len(syns) == 1 and len(answers) == 1 and conn.rtt is not None \
            and conn.syn_ts is not None and conn.synack_ts is not None:
        allowed = max(0.0, conn.rtt - (conn.synack_ts - conn.syn_ts))
    return conn.resp_h, conn.orig_h, allowed


def lag_proofs(connections: Iterable[Connection]) -> dict[tuple[str, str], LagProof]:
    """(host, peer) -> the proof of the largest lag in seconds by which the capture
    proves host's packets stamped behind peer's (LagProof.lag, above MIN_APART_SECONDS;
    absent: none proven, or the pair's handshakes disagree: one of host's SYN-ACKs
    answered its peer's SYN in order and allows no lag that large, `_in_order`; a
    handshake that `_straddles` its SYNs counts for neither), its upper bound the least
    any of the pair's proofs gives (not below that lag).

    Two passes: the proofs, then (only when there are some) the handshakes in order of
    their pairs. A connection whose first SYN-ACK is written after its first SYN and
    before its originator's first data proves nothing (`_lags`) and is passed over
    without a call: one capture point's 200,000 short connections cost 0.29 CPU-s
    before, a twentieth of reading them (bench's short-connections-200k)."""
    conns = connections if isinstance(connections, list) else list(connections)
    behind: dict[tuple[str, str], LagProof] = {}
    upper: dict[tuple[str, str], float] = {}
    for conn in conns:
        answers = conn.synack_frames
        if not answers:
            continue
        syns, first = conn.syn_frames, conn.orig_first_data
        if (not syns or answers[0] > syns[0]) and (first is None or first[0] > answers[0]):
            continue  # in order: no proof (`_lags`)
        for host, peer, proof in _lags(conn):
            if proof.lag <= MIN_APART_SECONDS:
                continue
            upper[(host, peer)] = min(proof.upper, upper.get((host, peer), proof.upper))
            if (host, peer) not in behind or proof.lag > behind[(host, peer)].lag:
                behind[(host, peer)] = proof
    if not behind:
        return {}
    allows: dict[tuple[str, str], float] = {}  # the least lag an in-order handshake allows
    for conn in conns:
        if (conn.resp_h, conn.orig_h) in behind \
                and (answered := _in_order(conn)) is not None:
            host, peer, allowed = answered
            allows[(host, peer)] = min(allowed, allows.get((host, peer), allowed))
    return {pair: replace(proof, upper=max(proof.lag, upper[pair]))
            for pair, proof in behind.items() if proof.lag <= allows.get(pair, proof.lag)}


def lag_allowed(proofs: Mapping[tuple[str, str], LagProof], behind: Iterable[str],
                ahead: Iterable[str]) -> float:
    """The most seconds by which the capture lets a packet of one of `behind`'s addresses
    be stamped behind one of `ahead`'s (one host's addresses: one clock): the largest
    upper bound of their lag proofs (lag_proofs), a proof's least where nothing bounds it
    from above (math.inf: what matching allows too); 0.0 when none is proven. A
    connection a host opened on its clock after its peer's message may be stamped up to
    that much before it (flowcheck.sessions.matching, .callback_elsewhere, .by_ports)."""
    if not proofs:
        return 0.0
    ahead = set(ahead)
    return max((proof.upper if math.isfinite(proof.upper) else proof.lag
                for host in set(behind) for peer in ahead
                if (proof := proofs.get((host, peer))) is not None), default=0.0)


def lead_allowed(proofs: Mapping[tuple[str, str], LagProof], control: Connection,
                 direction: str) -> float:
    """How far before a message of the control connection sent in `direction` ("orig",
    "resp"; stamped on its sender's clock) a connection its other end opened after it
    may be stamped on that end's clock (lag_allowed; 0.0 on one clock): ndmjob-firewall/
    v3-snap96-media-drop merged with the agent's clock 0.5 s behind had the agent's
    unanswered data SYNs stamped before the DATA_CONNECT the snap length cut, not
    matched by ports to it (flowcheck.sessions.by_ports), and read ndmp_no_reply."""
    sender, other = control.host(direction), control.host(other_direction(direction))
    return lag_allowed(proofs, (other,), (sender,))


def mark_clocks_apart(connections: list[Connection]) -> dict[tuple[str, str], LagProof]:
    """Set Connection.clocks_apart on each connection between two hosts whose stamps
    the capture proves apart (lag_proofs, either way): flowcheck.sessions.unheard_ack
    reads its handshake without the order of one side's packets against the other's.
    Returns the proofs (lag_proofs of `connections`: (host, peer) -> LagProof, empty
    when none), which the sessions and the checks read again (pipeline.Traffic.clock_lags:
    build_sessions' matching windows, verify.two_clocks) rather than find them again."""
    proofs = lag_proofs(connections)
    if not proofs:
        return proofs
    for conn in connections:
        conn.clocks_apart = ((conn.orig_h, conn.resp_h) in proofs
                             or (conn.resp_h, conn.orig_h) in proofs)
    return proofs
