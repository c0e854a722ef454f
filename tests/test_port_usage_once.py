"""The ports the sessions used (verify.range_stops.port_usage) are read in one walk per
Context for every reader, the failed steps' full_range and held_uses and
check_capacity's two readings (without and with refused listeners' ports), and read
anew once a stage changes what they rest on (Context.port_uses, keyed by usage_key).
captures/rangesmall/agent-range-small: an agent range of 2 ports for 3 resources."""

from __future__ import annotations

from pathlib import Path

import pytest

import flowcheck.verify.range_stops as range_stops
from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.verify.context import Context
from flowcheck.verify.range_stops import full_range, held_uses, port_usage

CASE = Path(__file__).resolve().parent.parent / "captures" / "rangesmall" / \
    "agent-range-small"
AGENT = "10.63.2.2"


def _context() -> Context:
    config = build_config(load_file(CASE.with_suffix(".toml")))
    analysis = analyze(read_traffic([str(CASE.with_suffix(".pcap"))], config), config)
    assert analysis.profile is not None
    return Context(analysis.traffic.connections, analysis.traffic.streams,
                   analysis.sessions, config, analysis.profile)


def _ends_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The uids whose ends port_usage reads (range_stops.role_ends), one per reading."""
    read: list[str] = []
    role_ends = range_stops.role_ends

    def counted(ctx, conn, session):  # noqa: ANN001, ANN202
        read.append(conn.uid)
        return role_ends(ctx, conn, session)

    monkeypatch.setattr(range_stops, "role_ends", counted)
    return read


def test_every_reader_shares_one_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _context()
    read = _ends_read(monkeypatch)
    usage = port_usage(ctx)
    walked = len(read)
    assert walked > 0 and usage["agent"]
    every = port_usage(ctx, refused=True)
    uses = held_uses(ctx, "agent", {AGENT}, max(c.ts for c in ctx.connections))
    full_range(ctx, "agent", {AGENT}, ctx.connections[0].ts, ctx.connections[0].ts)
    assert len(read) == walked, read  # before: one walk per reading
    assert port_usage(ctx) is usage and port_usage(ctx, refused=True) is every
    assert sum(len(spans) for spans in every["agent"].values()) >= \
        sum(len(spans) for spans in usage["agent"].values())
    assert uses  # the agent's ports at its last connection's start


def test_a_stage_that_changes_the_sessions_has_them_read_again() -> None:
    ctx = _context()
    usage = port_usage(ctx)
    session = next(s for s in ctx.sessions if s.data_connections)
    data = ctx.by_uid[session.data_connections[-1]]
    assert any(conn is data for spans in usage["agent"].values() for *_, conn in spans)
    session.data_connections.remove(data.uid)  # a connection taken from the session
    taken = port_usage(ctx)
    assert not any(conn is data for spans in taken["agent"].values() for *_, conn in spans)
    for each in ctx.sessions:
        each.side = True  # as verify.hosts.mark_side_traffic marks one
    assert port_usage(ctx) == {"media": {}, "agent": {}}
