"""Packets the sniffer lost are not packets the network dropped (new-user trial 25).

D1: a data connection whose handshake the sniffer lost, first seen by the agent's data
from the announced endpoint, is that announcement's connection (it read
unannounced_connection, "open before the capture started", and capture_filtered).
D2: a callback the capture lacks entirely while the job went on to announce and move
data made its callback: step 2 unknown, not step_missing with a firewall fix.
review58e: such a connection first seen after the job ended is not the job's.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from scapy.all import IP, TCP, Raw
from scapy_files import read_packets, write_packets
from stored import stored_analysis

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "trial25-sniff"
WORDS = CAPTURES.parent / "lab-trial26-words"


def _analyse(name: str):
    return stored_analysis(CAPTURES / f"{name}.pcap.gz")


def test_data_connection_with_lost_handshake_reaches_its_announcement() -> None:
    analysis = _analyse("r-datasyn_and_ack")
    codes = {f.code for f in analysis.findings}
    assert analysis.verdict == "pass"
    assert not codes & {"unannounced_connection", "capture_filtered", "announced_not_used"}
    session = analysis.sessions[0]
    assert [a.used_by for a in session.announced] == ["C3", "C4"]
    step4 = session.steps[3]
    assert step4.status == "ok"
    assert "C3 reached DATA_LISTEN (frame 21)'s endpoint" in step4.detail
    assert "the sniffer missed it" in step4.detail
    assert "open before the capture" not in step4.detail


def test_callback_lost_by_the_sniffer_after_which_the_job_went_on_is_unknown() -> None:
    analysis = _analyse("r-wholecallback")
    assert analysis.verdict == "inconclusive"
    assert "step_missing" not in {f.code for f in analysis.findings}
    step2 = analysis.sessions[0].steps[1]
    assert step2.status == "unknown"
    assert "the session went on past it" in step2.detail
    assert "NOTIFY_DATA_HALTED SUCCESSFUL, frame 242" in step2.detail


def test_connection_from_the_announced_port_after_the_job_is_not_its_data(
        tmp_path: Path) -> None:
    """review58e: lab-trial26-words/data-drop-agent (a router drops the data SYNs, the
    capture on the agent: announced_not_used) with the agent's own connection from its
    announced port 6001 to a third host's 5050, 2 min after the job ended (the port
    free again, taken for an outgoing connection), its handshake lost: the lost-
    handshake match took it for the job's data connection, as its peer is an address no
    session uses (newuser58's widening), and the job read PASS. A data connection opens
    while its job runs: the job still fails, its announcement unused."""
    packets = read_packets(WORDS / "data-drop-agent.pcap")
    last = packets[-1]

    def sent(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: str,
             size: int, after: str) -> IP:
        """A segment src -> dst `after` seconds past the capture's last packet."""
        packet = last.copy()
        packet[IP].remove_payload()
        packet[IP].add_payload(TCP(sport=src[1], dport=dst[1], seq=seq, ack=ack,
                                   flags=flags, window=502) / Raw(b"x" * size))
        packet[IP].src, packet[IP].dst, packet[IP].ttl = src[0], dst[0], 64
        del packet[IP].len, packet[IP].chksum
        packet.time = last.time + Decimal(after)
        return packet

    agent, third = ("10.88.0.2", 6001), ("10.88.0.250", 5050)
    stray = [sent(agent, third, 1001, 5001, "PA", 200, "120"),
             sent(third, agent, 5001, 1201, "PA", 300, "120.001"),
             sent(agent, third, 1201, 5301, "A", 0, "120.002")]
    lossy = write_packets(tmp_path / "late.pcap", [*packets, *stray])
    config = build_config(load_file(WORDS / "data-drop-agent.toml"))
    analysis = analyze(read_traffic([str(lossy)], config), config)
    assert analysis.verdict == "fail"
    assert "announced_not_used" in {f.code for f in analysis.findings}
    [announced] = analysis.sessions[0].announced
    assert announced.used_by is None
