"""A refused connection holds no port on its listener (flowcheck.verify.range_stops
.port_usage): the RST to its SYN (or an ICMP reject) says no socket took it there, so
the listener's port is neither in use nor held for port_hold_seconds after it. Counted
as held, an agent port refused and announced again within the hold read
`port_reused_within_hold`, and a refused port counted toward a range's peak
(`range_too_small`, a step's "no port left")."""

from __future__ import annotations

from dataclasses import replace

from test_verify_scenarios import LAB, A, M, announce, codes, conn, msg, run

from flowcheck.model import Connection, NdmpStream


def _jobs(first_how: str, second_how: str = "ok"
          ) -> tuple[list[Connection], list[NdmpStream]]:
    """Three NDMP jobs 10-15 s apart, each announcing an agent data port (DATA_LISTEN)
    and the DMA connecting to it from the media range: 6001 (the connection
    `first_how`), 6001 again (`second_how`), then 6002, accepted."""
    connections: list[Connection] = []
    streams: list[NdmpStream] = []
    plan = ((0.0, first_how, 6001), (10.0, second_how, 6001), (25.0, "ok", 6002))
    for n, (start, how, port) in enumerate(plan):
        control = conn(f"C{n}", M, 5001 + 10 * n, A, 10000, start, end=start + 9)
        data = conn(f"D{n}", M, 5002 + 10 * n, A, port, start + 3, how=how,
                    end=start + 8 if how == "ok" else None,
                    resp_bytes=1000 if how == "ok" else 0)
        stream = NdmpStream(control.uid, 4, messages=[
            msg(100 * n + 20, start + 2.0, "orig", "request", "DATA_LISTEN"),
            msg(100 * n + 21, start + 2.1, "resp", "reply", "DATA_LISTEN")])
        stream.announcements.append(announce(control.uid, A, port, 100 * n + 21,
                                             start + 2.1, "NDMP_DATA_LISTEN", "data"))
        connections += [control, data]
        streams.append(stream)
    return connections, streams


def test_a_refused_listener_port_is_not_counted_as_held() -> None:
    """Agent range 6001-6002: the refused connection to 6001, then 6001 and 6002
    accepted, needed 2 ports (6001 was never bound by the first), not 3."""
    config = replace(LAB, agent_range=((6001, 6002),), explicit=LAB.explicit)
    connections, streams = _jobs("refused")
    _, findings = run(connections, streams, config=config, profile="ndmp")
    assert "data_refused" in codes(findings)
    assert "range_too_small" not in codes(findings), [
        f.message for f in findings if f.code == "range_too_small"]
    # An accepted first connection does hold 6001 through the hold: 3 ports then.
    connections, streams = _jobs("ok")
    _, findings = run(connections, streams, config=config, profile="ndmp")
    assert "range_too_small" in codes(findings)


def test_a_refused_connection_to_a_port_still_held_is_still_named() -> None:
    """The other way round: 6001 accepted, then refused 10 s later, within the hold: the
    refused connection is no holder, but it met the port held, and the warning says
    the listener may not have been able to listen on it again."""
    config = replace(LAB, agent_range=((6001, 6010),), explicit=LAB.explicit)
    connections, streams = _jobs("ok", "refused")
    _, findings = run(connections, streams, config=config, profile="ndmp")
    [reused] = [f for f in findings if f.code == "port_reused_within_hold"]
    assert "D1 to the reused port was refused" in reused.fix, reused.fix


def _listener_then_source(first_how: str) -> list[str]:
    """Agent port 6001 announced (DATA_LISTEN) and connected to at 3 s (`first_how`),
    then, 10 s later, the source port of the agent's own data connection to the mover
    (a second job's MOVER_LISTEN): not a retry to the listener (_retry_to_listener), so
    only the first connection's hold says whether the port was used again too soon."""
    config = replace(LAB, agent_range=((6001, 6010),), explicit=LAB.explicit)
    c0 = conn("C0", M, 5001, A, 10000, 0.0, end=9.0)
    d0 = conn("D0", M, 5002, A, 6001, 3.0, how=first_how,
              end=8.0 if first_how == "ok" else None,
              resp_bytes=1000 if first_how == "ok" else 0)
    s0 = NdmpStream("C0", 4, messages=[msg(20, 2.0, "orig", "request", "DATA_LISTEN"),
                                      msg(21, 2.1, "resp", "reply", "DATA_LISTEN")])
    s0.announcements.append(announce("C0", A, 6001, 21, 2.1, "NDMP_DATA_LISTEN", "data"))
    c1 = conn("C1", M, 5011, A, 10000, 10.0, end=19.0)
    d1 = conn("D1", A, 6001, M, 5012, 13.0, end=18.0, orig_bytes=1000)
    s1 = NdmpStream("C1", 4, messages=[msg(120, 12.0, "orig", "request", "MOVER_LISTEN"),
                                      msg(121, 12.1, "resp", "reply", "MOVER_LISTEN")])
    s1.announcements.append(announce("C1", M, 5012, 121, 12.1, "NDMP_MOVER_LISTEN", "mover"))
    _, findings = run([c0, d0, c1, d1], [s0, s1], config=config, profile="ndmp")
    return codes(findings)


def test_a_refused_listener_port_is_no_earlier_use_of_the_port() -> None:
    """Review 63f: the first test's reuse is a retry to the listener, which was never
    named; here the port's next use is the agent's own source port. After a connection
    accepted on 6001 that is port_reused_within_hold; after a refused one (no socket
    took 6001, so nothing held it after) it is not (verify/capacity._reused_within_hold:
    a refused first span leaves the port free)."""
    assert "port_reused_within_hold" in _listener_then_source("ok")
    assert "port_reused_within_hold" not in _listener_then_source("refused")
