"""Trial 30 D4: `tcpdump -i any` on a router whose egress queues. Every forwarded packet
is in the capture twice, the egress copy up to 209 ms after the ingress one: relay
copies (flowcheck.connections.relay_copies), no retransmissions, whatever the delay;
tests/data/trial30-router-any (README there) holds the capture and the same run's
capture of one interface (each packet once) as the truth.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config
from flowcheck.model import Connection, Finding
from flowcheck.pipeline import read_traffic

DATA = Path(__file__).resolve().parent / "data" / "trial30-router-any"


def _read(name: str) -> tuple[list[Connection], list[Finding]]:
    """The connections and findings of a capture, as `flowcheck connections` reads it
    (the NDMP control stream tapped)."""
    traffic = read_traffic([str(DATA / name)], build_config())
    return traffic.connections, traffic.findings


def test_router_copies_queued_up_to_209_ms_are_no_retransmissions() -> None:
    seen, findings = _read("agent-kill.rany.pcap.gz")
    truth, _ = _read("agent-kill.r0.pcap.gz")
    assert [(c.orig_p, c.resp_p) for c in seen] == [(c.orig_p, c.resp_p) for c in truth]
    for copied, once in zip(seen, truth, strict=True):
        assert copied.retransmits == once.retransmits == 0
        assert copied.syn_retries == once.syn_retries
        # Each packet counts (tshark's counts, copies included), but its payload once.
        assert copied.orig_pkts > once.orig_pkts
        assert copied.orig_copy_bytes + copied.resp_copy_bytes > 0
    assert "capture_duplicates" in {f.code for f in findings}


def test_the_finding_names_the_router_and_its_queue() -> None:
    (found,) = [f for f in _read("agent-kill.rany.pcap.gz")[1]
                if f.code == "capture_duplicates"]
    assert "forwarded" in found.message and "interface" in found.message
    assert "ms later" in found.message
