"""A data connection a NAT rewrote and a firewall then drops, and two jobs at once whose
agents announce one endpoint (found by a new-user trial).

Copies of captures/lab/data-port-dropped.pcap (the agent 10.77.0.2 drops inbound SYNs to
its agent range: the media server's SYNs from port 5002 to 6001 go unanswered, four over
3.1 s) with the IPv4 header addresses moved by scapy, the NDMP payload untouched, so the
DATA_LISTEN reply still announces 10.77.0.2:6001 (a NAT that translates headers only):

- alone, moved to 192.168.5.10 -> 192.168.5.20: the SYNs reached the announced port under
  the control connection's address, so that connection is judged (data_unanswered, and
  a firewall rule does help) besides announced_address_mismatch. Before, the mismatch
  alone said opening firewall ports does not help.
- moved to 10.77.0.3 -> 10.77.0.4 and merged, 5 ms after its start, with
  clean-3-resources.pcap (10.77.0.1 -> 10.77.0.2, whose first data connection reaches
  10.77.0.2:6001): each job keeps its own media server's connection. Before, the second
  job took the first job's connection to 10.77.0.2:6001 (step 4 ok), its own dropped one
  was unannounced_connection and the first job got announced_not_used.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from scapy.all import IP, TCP, IPerror, Packet
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _moved(name: str, addresses: dict[str, str]) -> list[Packet]:
    """The lab capture with its IPv4 header addresses (ICMP quotes too) mapped; payloads,
    NDMP's announced addresses among them, untouched."""
    packets = list(read_packets(str(LAB / f"{name}.pcap")))
    for packet in packets:
        for layer in (IP, IPerror):
            if layer in packet:
                header = packet[layer]
                header.src = addresses.get(header.src, header.src)
                header.dst = addresses.get(header.dst, header.dst)
                del header.chksum
        if TCP in packet:
            del packet[TCP].chksum
    return packets


def _analyze(path: Path, name: str, **settings: object) -> Analysis:
    config = build_config({**load_file(LAB / f"{name}.toml"), **settings})
    return analyze(read_traffic([str(path)], config), config)


def _codes(analysis: Analysis, session: str | None = None) -> list[str]:
    return sorted(f.code for f in analysis.findings if str(f.severity) == "error"
                  and (session is None or f.session == session))


def _statuses(analysis: Analysis, session: str) -> list[str]:
    found = next(s for s in analysis.sessions if s.id == session)
    return [step.status for step in found.steps]


def _conn(analysis: Analysis, uid: str) -> tuple[str, int, str, int]:
    found = next(c for c in analysis.traffic.connections if c.uid == uid)
    return found.orig_h, found.orig_p, found.resp_h, found.resp_p


def test_nat_rewritten_data_connection_that_is_dropped_is_data_unanswered(
        tmp_path: Path) -> None:
    path = tmp_path / "dropped-behind-nat.pcap"
    write_packets(str(path), _moved("data-port-dropped",
                             {"10.77.0.1": "192.168.5.10", "10.77.0.2": "192.168.5.20"}))
    analysis = _analyze(path, "data-port-dropped", media_servers=["192.168.5.10"],
                        remote_agents=["192.168.5.20"], backup_network="192.168.5.0/24")
    assert analysis.verdict == "fail"
    assert _codes(analysis) == ["announced_address_mismatch", "data_unanswered"]
    by_code = {f.code: f for f in analysis.findings}
    dropped, mismatch = by_code["data_unanswered"], by_code["announced_address_mismatch"]
    assert dropped.uid == mismatch.uid == "C3"
    assert _conn(analysis, "C3") == ("192.168.5.10", 5002, "192.168.5.20", 6001)
    assert "was never answered" in dropped.message and "10.77.0.2:6001" in dropped.message
    rule = "Allow TCP from 192.168.5.10 to 192.168.5.20 ports 6001-6100 (agent range)"
    assert dropped.fix.startswith(rule)
    # The address is still wrong, but a firewall rule is what drops the connection now.
    assert "it failed: unanswered, reported as data_unanswered" in mismatch.message
    assert "does not help" not in mismatch.fix
    # Either reading of the address (trial 26 D1: no unconditional "announce the inside
    # address", which breaks an agent behind a NAT announcing its public one).
    assert "make the agent announce 192.168.5.20" in mismatch.fix and rule in mismatch.fix
    assert "the announcement is right: keep it" in mismatch.fix
    assert _statuses(analysis, "S1")[3:] == ["failed", "missing"]


def test_two_jobs_whose_agents_announce_one_endpoint_keep_their_own_connections(
        tmp_path: Path) -> None:
    first = list(read_packets(str(LAB / "clean-3-resources.pcap")))
    second = _moved("data-port-dropped", {"10.77.0.1": "10.77.0.3", "10.77.0.2": "10.77.0.4"})
    shift = first[0].time + Decimal("0.005") - second[0].time
    for packet in second:
        packet.time += shift
    path = tmp_path / "two-jobs.pcap"
    write_packets(str(path), sorted(first + second, key=lambda p: p.time))
    analysis = _analyze(path, "clean-3-resources", media_servers=["10.77.0.1", "10.77.0.3"],
                        remote_agents=["10.77.0.2", "10.77.0.4"])
    one, two = analysis.sessions
    assert (one.media_server, two.media_server) == ("10.77.0.1", "10.77.0.3")
    # The first job keeps all three of its data connections and passes.
    assert [_conn(analysis, uid)[0] for uid in one.data_connections] == ["10.77.0.1"] * 3
    assert (_conn(analysis, one.data_connections[0])[2:]) == ("10.77.0.2", 6001)
    assert _codes(analysis, "S1") == [] and _statuses(analysis, "S1") == ["ok"] * 5
    # The second job's own connection, reached under its agent's control address.
    [own] = two.data_connections
    assert _conn(analysis, own)[0] == "10.77.0.3" and _conn(analysis, own)[2:] == (
        "10.77.0.4", 6001)
    assert _codes(analysis, "S2") == ["announced_address_mismatch", "data_unanswered"]
    assert _statuses(analysis, "S2")[3:] == ["failed", "missing"]
    assert not {"unannounced_connection", "announced_not_used"} & {
        f.code for f in analysis.findings}


def test_callback_to_another_address_of_the_media_server(tmp_path: Path) -> None:
    """The control connection leaves the media server through source NAT (10.77.0.9),
    while the job engine's callback and the data connections use its own address
    10.77.0.1 (a new-user trial): with 10.77.0.1 configured as a media server and used by
    no session's control connection, the callback is the session's (it was step_missing
    with a firewall fix, and an unannounced_connection)."""
    from lab_edits import analyze_lab, lab_packets, write

    packets = lab_packets("clean-3-resources")
    for packet in packets:
        if TCP in packet and 10000 in (packet[TCP].sport, packet[TCP].dport):
            ip = packet[IP]
            ip.src, ip.dst = (("10.77.0.9" if a == "10.77.0.1" else a) for a in (ip.src, ip.dst))
            del ip.chksum, packet[TCP].chksum
    analysis = analyze_lab(write(tmp_path, "snat", packets), "clean-3-resources")
    session = analysis.sessions[0]
    callback = {c.uid: c for c in analysis.traffic.connections}[session.callback_uid or ""]
    assert (session.media_server, callback.resp_h, callback.resp_p) == (
        "10.77.0.9", "10.77.0.1", 5001)
    assert session.steps[1].status == "ok"
    codes = {f.code for f in analysis.findings}
    assert "step_missing" not in codes and "unannounced_connection" not in codes
