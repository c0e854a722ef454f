"""capture_loss's fixes (flowcheck.verify.loss): the sniffer's (a capture filter on
the backup hosts, a bigger buffer; `flowcheck live`'s own options when it captured),
a mirror's and a tunnel's addition."""

from __future__ import annotations

from collections.abc import Set

from flowcheck.model import CaptureInfo, Connection, Session
from flowcheck.verify.context import session_uids
from flowcheck.verify.loss_words import MOST_AFFECTED

MIRROR_FIX = ("Make the mirror's stream reach the capture whole: mirror only the backup "
              "hosts' traffic (a source filter or ACL on the ERSPAN session), keep the "
              "mirror's destination and the path to the collector below their capacity "
              "(the session's rate, the collector's link), and let the collector's capture "
              "keep up (tcpdump -B 65536, in KiB, writing to a fast local disk)")

# Added to the sniffer's fix when the gaps' connections arrived in a tunnel.
TUNNEL_FIX = (". If the packets came from a mirror session (they arrive in a tunnel), "
              "check it drops none: mirror only the backup hosts' traffic and keep the "
              "mirror target and the path to the collector below their capacity")


def job_hosts(sessions: list[Session], connections: list[Connection]) -> set[str]:
    """The addresses of every session's connections (control, callback, data): a capture
    filter for the backup hosts keeps each job's packets, over either IP version."""
    wanted = {uid for session in sessions for uid in session_uids(session)}
    return {h for c in connections if c.uid in wanted for h in (c.orig_h, c.resp_h)}


def loss_fix(lossy: list[Connection], captures: list[CaptureInfo],
             jobs: Set[str] = frozenset()) -> str:
    """The fix for the sniffer's loss: its capture filter names the hosts of the most
    affected connections and of every job (`jobs`, job_hosts). Lab matrix seed 123 run
    26 (two jobs, job 2's callback dropped, 1.9% of the frames deleted) named only the
    media server and job 1's agent, whose data connections had lost bytes: a capture so
    filtered would have lost the failing job 2 whole."""
    hosts = sorted({h for c in lossy[:MOST_AFFECTED] for h in (c.orig_h, c.resp_h)} | jobs)
    capture_filter = " or ".join(f"host {h}" for h in hosts) or "host MEDIA or host AGENT"
    live = next((c for c in captures if c.sniffer), None)
    if live is not None:  # what `flowcheck live` itself can change
        buffer = f" than the {live.buffer_mib} MiB it had" if live.buffer_mib else ""
        other = ("dumpcap or tcpdump (--sniffer; scapy is the slowest)"
                 if live.sniffer == "scapy" else "another sniffer (--sniffer)")
        return ("Run live so its sniffer keeps up: filter on the backup hosts only "
                f"(--capture-filter '{capture_filter}'), give it a bigger kernel buffer"
                f"{buffer} (--buffer, in MiB), try {other}, or run it on the host with the "
                "lighter load; or capture to a file (tcpdump -B 65536 -w job.pcap) and "
                "analyze that")
    return ("Capture so the sniffer keeps up: filter on the backup hosts only "
            f"(tcpdump -w job.pcap '{capture_filter}'), give it a bigger kernel buffer "
            "(tcpdump -B 65536, in KiB), write to a fast local disk (not a network share), "
            "use dumpcap instead of tcpdump, or capture on the host with the lighter load")
