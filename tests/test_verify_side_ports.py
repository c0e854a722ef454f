"""Side traffic is not judged: its ports neither (new-user trial 23, D10 and D9).

D10: a side-traffic connection (an HTTP fetch of an unconfigured host's port 10000, a
port check) from the media server, whose OS gave it an ephemeral port a data connection
had used 21 s before, was `port_reused_within_hold` "within the 60 s the port is held":
a warning about the port hold of a connection flowcheck itself does not judge.
D9: other traffic of a host that only side traffic had reached on its NDMP port was
`unannounced_connection` "between a media server and an agent" (10.77.0.9, a web and
file server, not a configured agent).
"""

from __future__ import annotations

from test_verify_scenarios import LAB, M, be_backup, codes, conn, run

X = "10.77.0.9"  # not a configured agent: a web server


def test_a_side_connection_reusing_a_data_port_is_not_reuse_within_hold() -> None:
    """The job's data connection used 10.77.0.1:5003 until 8 s; a side-traffic check of
    10.77.0.9:10000 from 5003 at 30 s (side: another session is the configured job)."""
    connections, streams = be_backup()
    connections.append(conn("Cside", M, 5003, X, 10000, 30.0, end=30.5))
    sessions, findings = run(connections, streams, config=LAB)
    assert [s.side for s in sessions] == [False, True]
    assert "port_reused_within_hold" not in codes(findings)
    assert "range_too_small" not in codes(findings)


def test_a_judged_session_reusing_a_data_port_still_is() -> None:
    """The same reuse by a second job of the configured hosts is still warned."""
    connections, streams = be_backup()
    connections.append(conn("Cnext", M, 5003, "10.77.0.2", 10000, 30.0, end=30.5))
    sessions, findings = run(connections, streams, config=LAB)
    assert [s.side for s in sessions] == [False, False]
    assert "port_reused_within_hold" in codes(findings)


def test_other_traffic_of_a_host_only_side_traffic_reached_is_not_between_agents() -> None:
    """A port check of 10.77.0.9:10000 (side traffic) and HTTP fetches of its port 80:
    10.77.0.9 is no agent, so its HTTP is no unannounced_connection "between a media
    server and an agent", and host_not_configured names it by what it did, not as the
    remote agent."""
    connections, streams = be_backup()
    connections.append(conn("Cside", M, 5050, X, 10000, 30.0, end=40.0))
    connections += [conn(f"Chttp{n}", M, 5060 + n, X, 80, 31.0 + n, end=31.5 + n)
                    for n in range(3)]
    sessions, findings = run(connections, streams, config=LAB)
    assert [s.side for s in sessions] == [False, True]
    assert "unannounced_connection" not in codes(findings)
    told = next(f for f in findings if f.code == "host_not_configured")
    assert told.message.startswith(f"Session S2's host {X} (listening on the NDMP port) is "
                                   "not among the configured remote agents (10.77.0.2)")
    assert f"If {X} is a remote agent, add it with --remote-agent" in told.fix
    assert not any(f"agent {X}" in f.message for f in findings)


def test_the_media_server_reached_on_its_own_ndmp_port_is_not_called_an_agent() -> None:
    """The configured agent connecting to the configured media server's port 10000 (the
    roles reversed): the media server is not 'remote agent 10.77.0.1', and the fix does
    not ask to add it with --remote-agent."""
    connections, streams = be_backup()
    connections.append(conn("Crev", "10.77.0.2", 6050, M, 10000, 30.0, how="refused"))
    sessions, findings = run(connections, streams, config=LAB)
    assert [s.side for s in sessions] == [False, True]
    told = [f for f in findings if f.code == "host_not_configured"]
    assert any(f.message.startswith(f"Session S2's host {M} (listening on the NDMP port: the "
                                    "configured media server)") for f in told)
    assert not any(f"remote agent {M}" in f.message or f"add {M}" in f.fix for f in told)

