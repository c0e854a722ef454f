"""Field check 37b: firewall features beyond allow and drop
(captures/trial37b-firewall-features).

A SYN proxy on the router answers every SYN in the agent's name: the capture shows a
completed handshake whatever the agent does next. The agent's closed port (its RST from
farther than the proxy's SYN-ACK) read `ndmp_no_reply` and `data_aborted` ("the handshake
completed, so the port was reachable"), and the agent host gone behind the proxy (the
router's ICMP host unreachable after the SYN-ACK) read as its NDMP service. A capture
started after the router lost its state table said a data connection that had carried
710 kB "never carried data". The whole results are regress expectations; here the
readings' words, and the rules' limits on scapy-built connections.
"""

from __future__ import annotations

from pathlib import Path

from capture_factory import tcp_packet, write_pcap
from scapy.all import IP, TCP, Ether
from stored import errors, folder_analysis

from flowcheck.config import build_config, load_file
from flowcheck.connections import track_connections
from flowcheck.model import Connection
from flowcheck.model.traffic import hops_travelled
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.syn_proxy import proxied_refusal

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial37b-firewall-features"
M, A = "10.77.0.1", "10.77.1.2"


def _analysis(name: str) -> Analysis:
    return folder_analysis(FOLDER, name)


def _errors(result: Analysis) -> list:
    return errors(result)


def test_a_refusal_behind_a_syn_proxy_is_a_refusal() -> None:
    for name, code in (("synproxy-ndmp-port-closed-media.pcap", "control_refused"),
                       ("synproxy-dataport-closed-media.pcap.gz", "data_refused")):
        [error] = _errors(_analysis(name))
        assert error.code == code, name
        assert "a SYN proxy between the hosts" in error.message, name
        assert f"{A}'s own RST" in error.message, name
        # The agent's own RST, not a device's in its name (the proxy's SYN-ACK has the
        # nearer TTL).
        assert "did not send: its TTL" not in error.message, name


def test_the_agent_unreachable_behind_a_syn_proxy() -> None:
    [error] = _errors(_analysis("synproxy-agent-down-media.pcap"))
    assert error.code == "control_refused"
    assert "from 10.77.0.254: that router could not reach 10.77.1.2" in error.message
    assert "a SYN proxy between the hosts" in error.message
    assert 4 in error.frames  # the ICMP unreachable


def test_a_job_through_a_syn_proxy_passes() -> None:
    assert _analysis("synproxy-job-ok-media.pcap.gz").verdict == "pass"


def test_a_capture_started_after_the_data_cannot_say_none_flowed() -> None:
    result = _analysis("state-flushed-capture-started-late-media.pcap")
    stalls = [f for f in _errors(result) if f.code == "data_stalled"]
    assert stalls
    for finding in stalls:
        assert "never carried data" not in finding.message
        assert "was busy" not in finding.message
        assert "whether it sat idle before cannot be seen" in finding.message


def _connection(tmp_path: Path, packets: list[tuple[float, bytes]]) -> Connection:
    path = tmp_path / "c.pcap"
    write_pcap(path, packets)
    [conn] = track_connections([str(path)]).connections
    return conn


def _from_agent(flags: str, ttl: int, seq: int, ack: int) -> bytes:
    return bytes(Ether() / IP(src=A, dst=M, ttl=ttl) / TCP(sport=10000, dport=5037,
                                                          flags=flags, seq=seq, ack=ack))


def _handshake_then_reset(synack_ttl: int, rst_ttl: int) -> list[tuple[float, bytes]]:
    return [(1.0, tcp_packet(M, A, 5037, 10000, "S", 100)),
            (1.00005, _from_agent("SA", synack_ttl, 500, 101)),
            (1.0001, tcp_packet(M, A, 5037, 10000, "A", 101, 501)),
            (1.0002, _from_agent("RA", rst_ttl, 501, 101))]


def test_only_a_reset_from_farther_than_the_synack_is_behind_a_proxy(tmp_path: Path
                                                                    ) -> None:
    behind = _connection(tmp_path, _handshake_then_reset(64, 63))
    assert proxied_refusal(behind) and connection_outcome(behind) == "refused"
    # A device's reset in the agent's name comes from nearer (or as near): no proxy.
    for rst_ttl in (62, 63):
        device = _connection(tmp_path, _handshake_then_reset(62, rst_ttl))
        assert not proxied_refusal(device), rst_ttl
        assert connection_outcome(device) != "refused", rst_ttl
    # Another initial TTL: a Windows agent (128) behind a Linux proxy (64): hops count.
    assert hops_travelled(127) == 1 and hops_travelled(64) == 0
    assert proxied_refusal(_connection(tmp_path, _handshake_then_reset(64, 127)))


def test_a_data_connection_stopped_right_after_one_like_it_passed_reads_a_limit() -> None:
    for name, code in (("rate-limit-drop-media.pcap.gz", "data_unanswered"),
                       ("meter-reject-media.pcap.gz", "data_refused")):
        errors = _errors(_analysis(name))
        assert [e.code for e in errors] == [code, code], name
        for error in errors:
            assert "Yet C3, from 10.77.0.1 to 10.77.1.2 port 6001, opened" in error.message
            assert "a limit on new connections" in error.message
            assert error.fix.startswith("On the firewalls between 10.77.0.1 and 10.77.1.2, "
                                        "look for a limit on new connections")


def test_no_limit_reading_when_every_data_connection_failed() -> None:
    # The stored drop of every data SYN (trial 36): nothing to the range passed.
    folder = Path(__file__).resolve().parents[1] / "captures" / "trial36-firewall-devices"
    config = build_config(load_file(folder / "flowcheck.toml"))
    result = analyze(read_traffic([str(folder / "pa-data-drop.pcap")], config), config)
    unanswered = [f for f in result.findings if f.code == "data_unanswered"]
    assert unanswered
    assert all("a limit on new connections" not in f.message for f in unanswered)


def test_a_port_forward_of_the_ndmp_port_alone() -> None:
    # The agent configured by its forwarded address, announcing its own.
    config = build_config(load_file(FOLDER / "port-forward-ndmp-only-vip-media.toml"))
    result = analyze(read_traffic([str(FOLDER / "port-forward-ndmp-only-vip-media.pcap.gz")],
                                  config), config)
    mismatches = [f for f in _errors(result) if f.code == "announced_address_mismatch"]
    assert mismatches
    for finding in mismatches:
        assert "10.77.1.2 is the agent's own address: its callback (C2) came from it" in \
            finding.message
        assert "another host" not in finding.message
        assert "does not help" not in finding.fix
        assert "or reach 10.77.1.2 without NAT: give the media server 10.77.0.1 a route" \
            in finding.fix
    # The agent announcing the forwarded address: the router has nothing behind the
    # data ports, while the control connection to the same address runs.
    refused = [f for f in _errors(_analysis("port-forward-ndmp-only-announces-vip-media.pcap.gz"))
               if f.code == "data_refused"]
    assert refused
    for finding in refused:
        assert "Yet 10.77.1.100 answered C1 on port 10000 at the same time" in finding.message
        assert finding.fix.startswith("If 10.77.1.100 is a forwarded address")


def test_a_stall_the_router_reports_unreachable_is_the_host_gone() -> None:
    [error] = _errors(_analysis("agent-down-mid-job-media.pcap.gz"))
    assert error.code == "data_stalled"
    assert "The router 10.77.0.254 answered the connection's packets with ICMP host " \
        "unreachables" in error.message
    assert "lost its state table" not in error.message
    assert error.fix.startswith("Check that 10.77.1.2 is up and on its network")
    assert 179 in error.frames  # the first ICMP unreachable
