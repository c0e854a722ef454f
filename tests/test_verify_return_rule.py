"""handshake_incomplete's fix names where the return traffic is blocked and the port
ranges, never the connection's one-off source port (trial 17, D8: "back to 10.77.1.2
port 6071" changed with every job: 6027, then 6067)."""

from __future__ import annotations

from test_verify_scenarios import A, M, be_backup, conn, run


def test_blocked_callback_return_names_host_chain_and_the_agent_range() -> None:
    connections, streams = be_backup(callback_how="handshake")
    _, findings = run(connections, streams)
    [finding] = [f for f in findings if f.code == "handshake_incomplete"]
    assert f"{A}:6002 -> {M}:5002" in finding.message  # the evidence keeps the ports
    assert finding.fix.startswith(f"On {A} (its input chain) and on any firewall between")
    assert "`nft insert rule FAMILY TABLE CHAIN ct state established,related accept` in the " \
        "table and chain on the input hook that hold the drop" in finding.fix
    assert "iptables -I INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT" in finding.fix
    assert f"TCP from {M} ports 5001-5100 back to {A} ports 6001-6100 (the agent range" in (
        finding.fix)
    assert "port 6002" not in finding.fix.replace("source port 6002 is drawn", "")


def test_blocked_control_return_from_a_port_outside_the_ranges_says_dynamic_ports() -> None:
    control = conn("Cctl", M, 41000, A, 10000, 0.0, how="handshake")
    _, findings = run([control], [])
    [finding] = [f for f in findings if f.code == "handshake_incomplete"]
    assert finding.fix.startswith(f"On {M} (its input chain)")
    assert f"TCP from {A} port 10000 back to {M} ports in its dynamic (ephemeral) range" \
        in finding.fix
    assert "port 41000" not in finding.fix.replace("source port 41000 is drawn", "")
