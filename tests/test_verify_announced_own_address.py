"""The agent announcing its own second address, whose firewall rejects the data
connection (review of field check trial 35 D1).

captures/lab/data-port-rejected.pcap readdressed as the reviewer's rehome.py did: the
agent's DATA_LISTEN announces 10.79.0.2 and the media server's data connection goes
there, answered by an ICMP port unreachable from the agent's own MAC with TTL 64, as its
control connection's packets. With the agent's callback connection moved to 10.79.0.2
too, the agent sent from that address itself: it is the agent's own interface, so the
firewall there is the fault (data_refused with its allow rule), not "another host".
"""

from __future__ import annotations

from pathlib import Path

from lab_edits import analyze_lab, lab_packets, write
from scapy.all import ICMP, IP, TCP, IPerror, Packet, Raw

from flowcheck.model import Finding

NAME = "data-port-rejected"
OLD, NEW = "10.77.0.2", "10.79.0.2"


def _rehomed(ports: tuple[int, ...]) -> list[Packet]:
    """The lab capture with the announced address (inside the control connection's
    payload) and the connections with an agent port in `ports` (and the ICMP errors)
    moved from 10.77.0.2 to 10.79.0.2."""
    old, new = bytes(map(int, OLD.split("."))), bytes(map(int, NEW.split(".")))
    out = []
    for packet in lab_packets(NAME):
        if TCP in packet and Raw in packet and 10000 in (packet[TCP].sport, packet[TCP].dport) \
                and old in bytes(packet[Raw].load):
            packet[Raw].load = bytes(packet[Raw].load).replace(old, new)
            del packet[IP].chksum, packet[TCP].chksum
        moved = ICMP in packet or (TCP in packet and 10000 not in (
            packet[TCP].sport, packet[TCP].dport) and {packet[TCP].sport, packet[TCP].dport}
            & set(ports))
        if IP in packet and moved:
            for layer in (IP, IPerror):
                if layer in packet:
                    for field in ("src", "dst"):
                        if packet[layer].getfieldval(field) == OLD:
                            packet[layer].setfieldval(field, NEW)
                    del packet[layer].chksum
            for layer in (TCP, ICMP):
                if layer in packet:
                    del packet[layer].chksum
        out.append(packet)
    return out


def _errors(tmp_path: Path, packets: list[Packet]) -> list[Finding]:
    analysis = analyze_lab(write(tmp_path, NAME, packets), NAME)
    return [f for f in analysis.findings if str(f.severity) == "error"]


def test_lab_capture_shape() -> None:
    """The rehome moves the data connection, its ICMP error and (with 6011) the callback."""
    packets = _rehomed((6001, 6011))
    assert [p[IP].src for p in packets if ICMP in p] == [NEW]
    assert any(TCP in p and p[TCP].sport == 6011 and p[IP].src == NEW for p in packets)


def test_agent_sending_from_the_announced_address_keeps_data_refused(tmp_path: Path) -> None:
    """The callback connection came from 10.79.0.2: the agent's own address; its
    firewall's rejection is data_refused with an allow rule there."""
    errors = _errors(tmp_path, _rehomed((6001, 6011)))
    assert not [f for f in errors if f.code == "announced_address_mismatch"]
    [refused] = [f for f in errors if f.code == "data_refused"]
    assert NEW in refused.message
    assert "Nothing needs changing" not in refused.fix
    assert "does not help" not in refused.fix


def test_unknown_host_at_the_announced_address_keeps_both_fixes(tmp_path: Path) -> None:
    """Only the data connection and its ICMP error moved: nothing proves 10.79.0.2 is
    another host or the agent's own interface. The mismatch stands, but its fix does not
    say that nothing needs changing there; it says what to do if it is the agent's own."""
    errors = _errors(tmp_path, _rehomed((6001,)))
    [mismatch] = [f for f in errors if f.code == "announced_address_mismatch"]
    assert "Nothing needs changing" not in mismatch.fix
    assert "does not help" not in mismatch.fix
    assert f"If {NEW} is an interface of the agent itself" in mismatch.fix
