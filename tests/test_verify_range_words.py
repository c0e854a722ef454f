"""The wording that ties port findings to the configured port ranges (trial 10).

A listener bound outside its side's range behind a firewall that opens only the range:
the failed connection's message and fix say so and name the port_outside_* finding,
and the allow rule names the port used, not the range (already open: trial 10 D5).
Ranges that look swapped in the configuration say so (D11).
"""

from __future__ import annotations

from test_verify_scenarios import M, be_backup, codes, ndmp_backup, run

from flowcheck.config import Config, build_config


def _mover_port(port: int, how: str) -> list:
    connections, streams = ndmp_backup(data_how=how)
    connections[1].resp_p = port
    streams[0].announcements[0].port = port
    return [connections, streams]


def test_unanswered_data_connection_outside_the_media_range_names_the_range() -> None:
    """The mover listened on 7012, the firewall opens 5001-5100: binding inside the range
    (or opening 7012) is the fix, not allowing the range."""
    connections, streams = _mover_port(7012, "unanswered")
    _, findings = run(connections, streams, profile="ndmp")
    assert {"data_unanswered", "port_outside_media_range"} <= set(codes(findings))
    [unanswered] = [f for f in findings if f.code == "data_unanswered"]
    assert ("Port 7012 is outside 5001-5100 (media range) (port_outside_media_range), the "
            "range the firewall is meant to open: a firewall that opens only that range "
            "drops connections to it") in unanswered.message
    assert unanswered.fix.startswith(f"Make the media server {M} bind its dynamic ports in "
                                     "5001-5100 (media range)")
    assert "port 7012 inbound on the media server" in unanswered.fix
    assert "ports 5001-5100" not in unanswered.fix


def test_refused_data_connection_outside_the_range_names_the_range() -> None:
    connections, streams = _mover_port(7012, "refused")
    _, findings = run(connections, streams, profile="ndmp")
    [refused] = [f for f in findings if f.code == "data_refused"]
    assert "a firewall that opens only that range rejects connections to it" in refused.message
    assert refused.fix.startswith(f"Make the media server {M} bind")
    assert "if a firewall rejects it: allow TCP from 10.77.0.2 to 10.77.0.1 port 7012" \
        in refused.fix


def test_unanswered_callback_outside_the_media_range_names_the_range() -> None:
    connections, streams = be_backup(callback_how="unanswered", callback_port=7002)
    _, findings = run(connections, streams)
    [unanswered] = [f for f in findings if f.code == "callback_unanswered"]
    assert "Port 7002 is outside 5001-5100 (media range) (port_outside_media_range)" \
        in unanswered.message
    assert "port 7002 inbound on the media server" in unanswered.fix


def test_failed_connection_inside_its_range_keeps_the_range_rule() -> None:
    connections, streams = _mover_port(5002, "unanswered")
    _, findings = run(connections, streams, profile="ndmp")
    [unanswered] = [f for f in findings if f.code == "data_unanswered"]
    assert "port_outside" not in unanswered.message
    assert "ports 5001-5100 (media range) inbound on the media server" in unanswered.fix


def _ranges(media: str, agent: str) -> Config:
    return build_config({"ndmp_port": 10000, "media_range": media, "agent_range": agent,
                         "media_servers": [M], "remote_agents": ["10.77.0.2"]})


def test_swapped_ranges_say_so() -> None:
    """media_range 6001-6100 and agent_range 5001-5100 on a good job (trial 10 D11): both
    port_outside_* findings say the two ranges look swapped, and the fix swaps them."""
    connections, streams = ndmp_backup(halt="SUCCESSFUL")
    _, findings = run(connections, streams, config=_ranges("6001-6100", "5001-5100"),
                      profile="ndmp")
    outside = [f for f in findings if f.code.startswith("port_outside_")]
    assert sorted(f.code for f in outside) == ["port_outside_agent_range",
                                               "port_outside_media_range"]
    for finding in outside:
        assert finding.message.endswith(
            "Every media server port of the callbacks and data connections is in 5001-5100 "
            "(agent range) and every agent port in 6001-6100 (media range): the two ranges "
            "look swapped in the configuration.")
        assert "swap media_range and agent_range" in finding.fix


def test_a_port_outside_its_range_alone_is_not_called_swapped() -> None:
    """A narrow agent range the agent's port misses, the media port inside its own range:
    not swapped."""
    connections, streams = ndmp_backup(agent_port=6049, halt="SUCCESSFUL")
    _, findings = run(connections, streams, config=_ranges("5001-5010", "6001-6010"),
                      profile="ndmp")
    [outside] = [f for f in findings if f.code.startswith("port_outside_")]
    assert outside.code == "port_outside_agent_range"
    assert "swapped" not in outside.message and "swap" not in outside.fix


def test_a_range_that_holds_every_port_backs_no_swap() -> None:
    """media_range unset (flowcheck's 1025-65535: Config.wide_ranges) and agent_range
    5001-5100 on the job above: every agent port is "in the media range" because that
    range holds every port, so it backs no swap; port_outside_agent_range was told the
    two ranges look swapped and to swap them, which would set the agent's range to every
    port. The agent's ports outside its range are said alone."""
    connections, streams = ndmp_backup(halt="SUCCESSFUL")
    config = build_config({"ndmp_port": 10000, "agent_range": "5001-5100",
                           "media_servers": [M], "remote_agents": ["10.77.0.2"]})
    assert config.wide_ranges() == ["media"]
    _, findings = run(connections, streams, config=config, profile="ndmp")
    [outside] = [f for f in findings if f.code.startswith("port_outside_")]
    assert outside.code == "port_outside_agent_range"
    assert "swapped" not in outside.message and "swap" not in outside.fix
