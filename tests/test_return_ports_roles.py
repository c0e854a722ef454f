"""verify.allow_rules.return_ports names the range of the host's role where the ranges
overlap (task hostproof's check): trial 35's bridge case configures media 5001-5100 and
agent 5051-5150,6001-6100, so a port in 5051-5100 is in both. Before, the source port's
range was the first holding it, the agent's (a media server's source port 5060 was "the
agent range"), and the listener's the media's (an agent's port 5070 "ports 5001-5100").
The connections are the case's own data connection with only the port moved into the
overlap (dataclasses.replace), read with the case's Context."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from stored import shared_analysis

from flowcheck.model import Connection
from flowcheck.verify.allow_rules import return_ports
from flowcheck.verify.context import Context

CASE = (Path(__file__).resolve().parents[1] / "captures" / "trial35-bridge"
        / "data-unanswered-bridge-any.pcap")


def _context_and_data() -> tuple[Context, Connection]:
    analysis = shared_analysis(CASE)
    assert analysis.profile is not None
    ctx = Context(analysis.traffic.connections, analysis.traffic.streams,
                  analysis.sessions, analysis.config, analysis.profile)
    data = next(c for c in analysis.traffic.connections
                if c.orig_h == "10.77.0.1" and c.resp_p == 6001)
    return ctx, data


def test_a_media_servers_source_port_in_the_overlap_is_its_range() -> None:
    ctx, data = _context_and_data()
    _, back_to = return_ports(ctx, dataclasses.replace(data, orig_p=5060))
    assert back_to.startswith("ports 5001-5100 (the media range: this connection's source "
                              "port 5060")


def test_an_agents_listening_port_in_the_overlap_is_its_range() -> None:
    ctx, data = _context_and_data()
    answer, _ = return_ports(ctx, dataclasses.replace(data, resp_p=5070))
    assert answer == "ports 5051-5150,6001-6100"
