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
