"""A callback whose opening the capture lacks gives way to one whose opening it holds.

sessions.callback_sweep.attach_callbacks' sweep hands callbacks out in time order, earliest
deadline first, every connection between the pair of hosts alike. A connection open
before the capture (no SYN or SYN-ACK in it), whose keepalive or late ACK falls in a
job's window, then took the callback from the one whose SYN followed the vendor message
(review56e); offering opened connections first to every session instead took an SSH
session's for a callback whose handshake the sniffer lost, and would take another job's
callback opened in the window (review56j). So the trade is made after the sweep, per
session: the sweep's choices of other sessions stand.

A connection open before the capture that carries a stream one way (streamed_one_way)
is no callback at all: a data connection joined late whose first captured packet the
agent sent (review58a).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

from flowcheck.config import Config
from flowcheck.model import Connection, Session
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.pools import Endpoints, Pool, claim


def streamed_one_way(conn: Connection) -> bool:
    """Does this connection, open before the capture (connection_outcome "midstream": no
    opening in it, so its originator is only its first captured packet's sender), carry
    a data stream: payload from one side only, more than a byte a packet (keepalive
    probes carry none or one)? That is a data connection's shape (a backup's agent sends
    and the media server only ACKs, a restore the other way round), and not a
    callback's: the agent answers the job engine on it and the job's data goes on the
    data connection (flow-model.md steps 2 and 5; no callback of the stored cases
    carries a byte either way). review58a: captures/lab/concurrent-jobs.pcap from
    frame 125 (editcap -r) took 10.77.0.2:6001 -> 10.77.0.1:5052, 134.5 kB from the
    agent and none back (the data connection 10.77.0.1:5052 -> 10.77.0.2:6001 of the
    other job, its SYN before the cut), as S2's callback, and the callback
    10.77.0.2:6093 -> 10.77.0.1:5001 went to S1's data connections."""
    if connection_outcome(conn) != "midstream":
        return False
    sent = ((conn.orig_bytes, conn.orig_pkts), (conn.resp_bytes, conn.resp_pkts))
    return any(size > packets and not other
               for (size, packets), (other, _) in (sent, sent[::-1]))


def prefer_opened(sessions: list[Session], by_uid: dict[str, Connection],
                  endpoints: Endpoints, config: Config,
                  opened: Mapping[str, dict[Hashable, Pool]],
                  indexes: list[int],
                  first_opened: Callable[[int, Pool], Connection | None]) -> None:
    """Each session (by `indexes`: earliest deadline first) whose callback's opening the
    capture lacks (connection_outcome "midstream": a connection open before the capture,
    a keepalive's or a late ACK's, looks the same as a callback whose handshake the
    sniffer lost) takes instead the first unclaimed connection whose opening it holds
    that first_opened finds (after the session's anchor, in its window): into the media
    range (opened["in_range"]), or to any port (opened["any"]) when the one it holds is
    outside it too. The one it held goes back to the unclaimed "other" connections.

    Done once every session has had its turn in the sweep, so an opened connection that
    is another session's callback is that session's already, and one to another port
    (an SSH session) does not displace a callback in the media range whose handshake the
    sniffer lost (review56j). review56e: a 10.77.0.2:7000 -> 10.77.0.1:5050 keepalive
    between the vendor message and the callback's SYN took the callback, read
    port_outside_agent_range."""
    for index in indexes:
        session = sessions[index]
        held = by_uid.get(session.callback_uid or "")
        if held is None or connection_outcome(held) != "midstream":
            continue
        pair = (session.remote_agent, session.media_server)
        kinds = ("in_range",) if config.in_media_range(held.resp_p) else ("in_range", "any")
        better = next((c for kind in kinds if (pool := opened[kind].get(pair)) is not None
                       and (c := first_opened(index, pool)) is not None), None)
        if better is None:
            continue
        # The pools here never offer `held` again (it has no opening); later matching
        # builds its own pools (Endpoints.pools), where it is unclaimed as before.
        endpoints.claimed.discard(held.uid)
        held.role, held.session = "other", None
        session.callback_uid = better.uid
        claim(endpoints, better, session, "callback")
