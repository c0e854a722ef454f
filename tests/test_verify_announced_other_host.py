"""An agent announcing another host's address, and that host answering (field check
trial 35 D1).

The agent (10.77.0.2, reached on its control connection there) announces 10.79.0.2 in
DATA_LISTEN. captures/lab/announced-other-address.pcap holds the media server's SYNs to
it unanswered (announced_address_mismatch). Here the host at 10.79.0.2 answers: with a
RST (refused), or with a SYN-ACK and then a RST once the connection opened (data_aborted's
shape); and 10.79.0.2 is once a host no session of the capture reached, once another
NDMP agent of the capture (a browse session to it added). Each read as the wrong host's
fault: data_refused with "on 10.79.0.2 find what holds TCP port 6001", or data_aborted
"reset by ... 10.79.0.2". The announced address is the fault: the finding names it and
the host that answered, and the fix points to the agent's announced interface.

captures/trial35-other-agent/announced-other-agent-refused.pcap: the trial's capture,
cut to the two agents (README there).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import analyze_lab, fin_close, lab_packets, segment, write
from scapy.all import ICMP, IP, TCP, Ether, Packet

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

NAME = "announced-other-address"
WRONG = "10.79.0.2"
STORED = Path(__file__).resolve().parent.parent / "captures" / "trial35-other-agent"


def _answered(how: str) -> list[Packet]:
    """The lab capture with 10.79.0.2 answering the media server's first SYN (frame 22):
    "refused" a RST-ACK; "icmp" an ICMP port unreachable; "reset" a SYN-ACK, the media
    server's ACK, then 10.79.0.2's RST. Its retransmitted SYNs (frames 24-26) left out;
    the session's close kept. "unanswered": the lab capture as it is."""
    packets = lab_packets(NAME)
    syn = packets[21]
    assert syn[IP].dst == WRONG and syn[TCP].flags == "S"
    back = syn.copy()
    back[IP].src, back[IP].dst = syn[IP].dst, syn[IP].src
    back[TCP].sport, back[TCP].dport = syn[TCP].dport, syn[TCP].sport
    t = Decimal(str(syn.time))
    if how == "unanswered":
        return packets
    if how == "refused":
        answer = [segment(back, "RA", 0, syn[TCP].seq + 1, t + Decimal("0.0001"))]
    elif how == "icmp":
        unreachable = Ether(src=back[Ether].src, dst=back[Ether].dst) / IP(
            src=WRONG, dst=syn[IP].src) / ICMP(type=3, code=3) / syn[IP].copy()
        unreachable.time = t + Decimal("0.0001")
        answer = [unreachable]
    else:
        mine = 7000
        answer = [segment(back, "SA", mine, syn[TCP].seq + 1, t + Decimal("0.0001")),
                  segment(syn, "A", syn[TCP].seq + 1, mine + 1, t + Decimal("0.0002")),
                  segment(back, "R", mine + 1, 0, t + Decimal("0.0003"))]
    return packets[:22] + answer + [packets[22]] + packets[26:]


def _other_agent_session(packets: list[Packet]) -> list[Packet]:
    """A browse session of the media server with an NDMP agent at 10.79.0.2 one second
    before the job: the lab job's control connection up to CONFIG_GET_SERVER_INFO's reply
    (frames 1-14), readdressed, from media port 5070, and closed with FINs."""
    browse = []
    for packet in packets[:14]:
        copy = packet.copy()
        for field in ("src", "dst"):
            if copy[IP].getfieldval(field) == "10.77.0.2":
                copy[IP].setfieldval(field, WRONG)
        for field in ("sport", "dport"):
            if copy[TCP].getfieldval(field) == 5069:
                copy[TCP].setfieldval(field, 5070)
        del copy[IP].chksum, copy[TCP].chksum
        copy.time = Decimal(str(packet.time)) - 1
        browse.append(copy)
    end = Decimal(str(browse[-1].time)) + Decimal("0.001")
    return browse + fin_close(browse, 5070, 10000, end) + packets


def _errors(tmp_path: Path, packets: list[Packet]) -> list[Finding]:
    analysis = analyze_lab(write(tmp_path, NAME, packets), NAME)
    assert analysis.verdict == "fail"
    return [f for f in analysis.findings if str(f.severity) == "error"]


def _is_the_address(finding: Finding, answer: str, *, proven: bool = True) -> None:
    """The mismatch names the announced address, the agent's control address, the
    other host's answer; its fix is the agent's announced interface, not the other
    host's port; for a host not proven another (proven False: it may be an interface
    of the agent's own), also what to do if it is the agent's."""
    assert finding.code == "announced_address_mismatch"
    assert f"announced {WRONG}:6001" in finding.message
    assert "reached the agent at 10.77.0.2" in finding.message
    assert answer in finding.message
    assert f"{WRONG} is not the agent at 10.77.0.2 but another " in finding.message
    assert "Make the agent announce the address the media server 10.77.0.1 reaches it on " \
           "(10.77.0.2)" in finding.fix
    assert "find what holds TCP port" not in finding.fix
    if proven:
        assert f"Nothing needs changing on {WRONG}" in finding.fix
    else:
        assert "Nothing needs changing" not in finding.fix
        assert f"If {WRONG} is an interface of the agent itself" in finding.fix


@pytest.mark.parametrize(("how", "answer"), [
    ("refused", "refused: the SYN was answered with a RST"),
    ("reset", f"reset by {WRONG}"),
    ("icmp", "refused: the SYN was answered with an ICMP"),
])
def test_another_host_answering_the_announced_address_is_the_mismatch(
        tmp_path: Path, how: str, answer: str) -> None:
    [finding] = _errors(tmp_path, _answered(how))
    _is_the_address(finding, answer, proven=False)
    assert "but another host, not one of this capture's NDMP agents" in finding.message


def test_another_agent_of_the_capture_is_named(tmp_path: Path) -> None:
    errors = _errors(tmp_path, _other_agent_session(_answered("refused")))
    [finding] = [f for f in errors if f.session == "S2"]
    _is_the_address(finding, "refused: the SYN was answered with a RST")
    assert f"{WRONG} is not the agent at 10.77.0.2 but another NDMP agent of this capture " \
           "(session S1 reached it on its NDMP port 10000)" in finding.message


def test_another_agent_unanswered_is_named(tmp_path: Path) -> None:
    """The lab's own shape (SYNs unanswered) with 10.79.0.2 another agent of the capture:
    the mismatch as before, naming that agent."""
    errors = _errors(tmp_path, _other_agent_session(_answered("unanswered")))
    [finding] = [f for f in errors if f.session == "S2"]
    assert finding.code == "announced_address_mismatch"
    assert f"sent its SYNs to {WRONG}:6001 and got no answer" in finding.message
    assert f"{WRONG} is another NDMP agent of this capture (session S1 reached it on its " \
           "NDMP port 10000)" in finding.message


def test_trial35_agent_announcing_another_agent() -> None:
    """The trial's case: A12 (10.77.0.22) announced 10.77.0.13, the agent A3 whose own
    jobs (S1, S2) passed; A3 refused A12's data connections."""
    config = build_config(load_file(STORED / "announced-other-agent-refused.toml"))
    analysis = analyze(read_traffic(
        [str(STORED / "announced-other-agent-refused.pcap")], config), config)
    mismatches = [f for f in analysis.findings if f.code == "announced_address_mismatch"]
    # Each session's two data connections (to 6002 after a stale ACK: trial 35 D2).
    assert sorted((f.session, f.message.split(" for the data")[0].rsplit(" ", 1)[-1])
                  for f in mismatches) == [("S3", "10.77.0.13:6001"), ("S3", "10.77.0.13:6002"),
                                           ("S4", "10.77.0.13:6001"), ("S4", "10.77.0.13:6002")]
    assert not [f for f in analysis.findings if f.code == "data_refused"]
    assert not [f for f in analysis.findings if f.code == "capture_loss"]
    for finding in mismatches:
        assert "reached the agent at 10.77.0.22" in finding.message
        assert "10.77.0.13 is not the agent at 10.77.0.22 but another NDMP agent of this " \
               "capture (sessions S1, S2 reached it on its NDMP port 10000)" in finding.message
        assert "(10.77.0.22)" in finding.fix and "on 10.77.0.13 find" not in finding.fix
