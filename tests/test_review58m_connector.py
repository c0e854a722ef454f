"""verify.attempts.connector_unseen with a dual-stack host the sessions prove two
addresses of the announced address's IP version (review58m, a second read of field66)."""

from __future__ import annotations

from test_sessions import LAB, conn

from flowcheck.model import NdmpStream
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions
from flowcheck.verify.attempts import connector_unseen
from flowcheck.verify.context import Context

M6, A6, A4 = "fd77::1", "fd77::2", "10.77.0.2"


def test_every_proven_address_of_the_version_is_asked() -> None:
    """Two jobs of media server fd77::1 over IPv6, the agent's callbacks reaching it at
    10.77.0.1 and at 10.77.0.9 (two IPv4 addresses of one host, or one behind a NAT):
    the capture lacks 10.77.0.9 -> 10.77.0.2, so a connection attempt to the announced
    10.77.0.2 from there could not be seen. field66 asked the lowest address alone
    (sorted: 10.77.0.1, captured) and read the attempt as one that would show."""
    conns = [conn("C1", M6, 5061, A6, 10000, 0.0, end=100.0),
             conn("C2", M6, 5062, A6, 10000, 200.0, end=300.0),
             conn("K1", A4, 6010, "10.77.0.1", 5010, 1.0, end=90.0),
             conn("K2", A4, 6011, "10.77.0.9", 5011, 201.0, end=290.0)]
    streams = [NdmpStream("C1", 4), NdmpStream("C2", 4)]
    profile = load_profile("backup-exec-9")
    sessions = build_sessions(conns, streams, LAB, profile)
    assert [s.callback_uid for s in sessions] == ["K1", "K2"]
    ctx = Context(conns, streams, sessions, LAB, profile)
    ctx.missing = {("10.77.0.9", A4): []}
    assert ctx.host_addresses(sessions[0], "media") == {M6, "10.77.0.1", "10.77.0.9"}
    assert connector_unseen(ctx, sessions[0], "data", [A4]) == ("10.77.0.9", A4)
    ctx.missing = {}
    assert connector_unseen(ctx, sessions[0], "data", [A4]) is None
