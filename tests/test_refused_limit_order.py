"""A refusal by a filter's reject after an earlier good job: the fix opens with the reject
rule the ICMP names, the limit among what that rule may be after it
(flowcheck.verify.limit_words.refused_limit_fix; newuser62: one SYN rejected with
`reject with icmp admin-prohibited`, its fix opening "raise the limit above what a job
opens at once"). A RST in the responder's name keeps its port-in-use reading first;
within one job the limit still leads (tests/test_trial37b_firewall_features.py).

The captures are made at test time from stored lab cases: lab/data-port-rejected (its
ICMP port unreachable made administratively prohibited, code 13, as nft's `reject with
icmp admin-prohibited` sends it) and lab/callback-rejected, each moved to 10 s after
lab/clean-3-resources, a good job of the same hosts and ranges, and read with it.
"""

from __future__ import annotations

from pathlib import Path

from scapy.all import ICMP, rdpcap, wrpcap
from stored import stored_analysis

from flowcheck.model import Finding

LAB = Path(__file__).resolve().parents[1] / "captures" / "lab"
GOOD = LAB / "clean-3-resources.pcap"


def _after_good_job(tmp_path: Path, name: str) -> Path:
    """LAB/NAME.pcap moved to start 10 s after GOOD's first packet, its ICMP destination
    unreachables given code 13 (administratively prohibited)."""
    start = float(rdpcap(str(GOOD), count=1)[0].time)
    packets = rdpcap(str(LAB / f"{name}.pcap"))
    shift = float(packets[0].time) - (start + 10.0)
    for packet in packets:
        packet.time -= shift
        if packet.haslayer(ICMP) and packet[ICMP].type == 3:
            packet[ICMP].code = 13
            del packet[ICMP].chksum
    out = tmp_path / f"{name}-after.pcap"
    wrpcap(str(out), packets)
    return out


def _one(tmp_path: Path, name: str, code: str) -> Finding:
    (tmp_path / "none.toml").write_text("")
    analysis = stored_analysis(GOOD, _after_good_job(tmp_path, name),
                               config_path=tmp_path / "none.toml",
                               media_range="5001-5100", agent_range="6001-6100")
    [finding] = [f for f in analysis.findings if f.code == code]
    return finding


def test_an_admin_prohibited_data_refusal_opens_with_its_reject_rule(tmp_path: Path) -> None:
    finding = _one(tmp_path, "data-port-rejected", "data_refused")
    message, fix = " ".join(finding.message.split()), " ".join(finding.fix.split())
    assert 'ICMP unreachable "communication administratively prohibited by filtering" (code 13)' \
        in message
    assert "in an earlier job (session S1; this is S2)" in message
    assert fix.startswith("Allow TCP from 10.77.0.1 to 10.77.0.2 ports 6001-6100 (agent "
                          "range) outbound on the media server and inbound on the agent, "
                          "and its return traffic: the reject rule is in 10.77.0.2's "
                          "firewall")
    assert ("C5 to 10.77.0.2 port 6003 passed the same way 9.89 s before, in session S1's "
            "job: if that reject rule is a limit on new connections") in fix
    assert "raise it above what a job opens at once (two connections per resource)" in fix
    assert "or be one added or changed since session S1's job" in fix
    assert fix.index("the reject rule is in") < fix.index("a limit on new connections")


def test_an_admin_prohibited_callback_refusal_reads_alike(tmp_path: Path) -> None:
    fix = " ".join(_one(tmp_path, "callback-rejected", "callback_refused").fix.split())
    assert not fix.startswith("On the firewalls between")
    assert fix.index("a limit on new connections") > fix.index(".")
    assert "passed the same way" in fix and "raise it above what a job opens" in fix
