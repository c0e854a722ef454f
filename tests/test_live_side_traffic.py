"""`live` holds back the findings of a session between hosts outside the configuration
until the final report: a configured job that shows up later makes it side traffic, its
errors withheld (flowcheck.verify.hosts.mark_side_traffic). Trial 11: a probe of the media
server's port 10000 from the agent host, before the job, streamed a `control_refused`
the final report then dropped.

Built from captures/ndmjob-probes/probes-10000-media.pcap.gz: its session S8, the agent
host 10.77.1.2 connecting to the media server's closed port 10000 (refused).
"""

from __future__ import annotations

import gzip
from pathlib import Path

from scapy.all import IP, TCP, PcapReader, wrpcap

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sources import iter_batches

PROBES = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-probes"
CONFIG = build_config(load_file(PROBES / "probes-10000-media.toml"))


def _reverse_probe(tmp_path: Path) -> Path:
    """The capture's packets of the agent host's connection to the media server's port
    10000 (and its answers), nothing else."""
    with gzip.open(PROBES / "probes-10000-media.pcap.gz") as raw:
        packets = [p for p in PcapReader(raw) if IP in p and TCP in p and {
            (p[IP].src, p[TCP].sport), (p[IP].dst, p[TCP].dport)} >= {("10.77.0.1", 10000)}
            and "10.77.1.2" in (p[IP].src, p[IP].dst)]
    assert packets, "the reverse probe is in the stored capture"
    path = tmp_path / "reverse-probe.pcap"
    wrpcap(str(path), packets)
    return path


def test_a_probe_outside_the_configuration_waits_for_the_final_report(tmp_path: Path) -> None:
    path = _reverse_probe(tmp_path)
    verifier = LiveVerifier(CONFIG, interval=0.0)
    reader = iter_batches([str(path)])
    for batch in reader:
        verifier.tracker.feed(batch)
    traffic = read_traffic([str(path)], CONFIG)
    last = max(c.last_ts for c in traffic.connections)
    verifier._now = last + 3600  # long after: nothing left to take back, but its session
    early = [e.finding.code for e in verifier._certain_findings(reader.captures)
             if e.finding is not None]
    assert "control_refused" not in early and "host_not_configured" not in early
    # Alone in the capture (no configured job), the final report judges it: refused.
    final = analyze(traffic, CONFIG)
    assert "control_refused" in {f.code for f in final.findings}
