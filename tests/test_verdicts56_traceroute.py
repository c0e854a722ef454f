"""Real traceroutes to the agent's NDMP port beside a good job (captures/verdicts56,
made in network namespaces with Debian's tcptraceroute and traceroute -T, three routers
between the hosts) read FAIL:

- tcptraceroute sends every probe from one source port: SYNs with TTL 1, 1, 1, 2, 2, 2,
  3, 3, 3 each drew a router's time exceeded, then the SYN with TTL 4 got the agent's
  SYN-ACK and the prober's TCP reset it. One connection, read `handshake_incomplete`
  ERROR "its connect timed out" (review 54i's probe rule knew only unanswered probes).
- traceroute -T draws each probe's port at random and drew 5026 twice: a TTL-1 probe,
  then one that reached the agent (SYN, SYN-ACK, RST), read `handshake_incomplete` "a
  rule on 10.56.1.1 rejects it" (half_open_check refused a second connection of the
  four-tuple) and `port_reused_within_hold`.

Now each is a probe, no job (verify.ttl_exceeded.reached_end, verify.half_open,
verify.capacity): PASS, no finding, as the job alone; and so when the capture holds no
ICMP (a filter on TCP), where traceroute -T's TTL 1-3 probes read control_unanswered.
"""

from __future__ import annotations

from stored import CAPTURES, errors, shared_analysis

from flowcheck.pipeline import Analysis

CASE = CAPTURES / "verdicts56" / "traceroute-probes-beside-job.pcap"


def _words(text: str) -> str:
    return " ".join(text.split())


def _session(analysis: Analysis, port: int):
    """The session whose control connection left the media server from `port` first
    (tcptraceroute's: traceroute -T may draw its port later)."""
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    return min((s for s in analysis.sessions if by_uid[s.control_uid].orig_p == port),
               key=lambda s: by_uid[s.control_uid].first_frame)


def test_traceroutes_beside_a_good_job_are_probes_not_failures() -> None:
    analysis = shared_analysis(CASE)
    assert analysis.verdict == "pass", errors(analysis)
    assert analysis.findings == []
    assert [s.kind for s in analysis.sessions].count("backup") == 1


def test_tcptraceroutes_one_port_probe_reads_its_hops_and_the_far_ends_answer() -> None:
    """Frames 1-27: one connection of 12 SYNs, 9 time exceeded, 3 SYN-ACKs each reset."""
    step = _session(shared_analysis(CASE), 5078).steps[0]
    assert step.status == "ok"
    detail = _words(step.detail)
    assert detail.startswith("a traceroute probe (traceroute -T, tcptraceroute), not a job: "
                             "its SYN carried TTL 1 as captured")
    assert "the ICMP time exceeded messages (frames 2, 4, 6, 8, 10, 12, 14, 16, 18, the " \
           "first from 10.56.1.254) are the answers such probes ask for" in detail
    assert detail.endswith("the SYN whose TTL lasted reached 10.56.4.2, which answered "
                           "(SYN-ACK, frame 20), and 10.56.1.1's TCP reset it (RST, frame "
                           "21): no socket waited for it, the probe's way of ending, not a "
                           "failed handshake")
    assert all(s.status == "not_applicable" for s in _session(shared_analysis(CASE),
                                                              5078).steps[1:])


def test_a_port_traceroute_drew_twice_is_two_probes() -> None:
    """traceroute -T's port 5026: a TTL-1 probe (frame 28) and a half-open one (91-93)."""
    analysis = shared_analysis(CASE)
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    details = sorted(_words(s.steps[0].detail) for s in analysis.sessions
                     if by_uid[s.control_uid].orig_p == 5026)
    assert len(details) == 2
    assert details[0].startswith("a half-open port check")
    assert details[1].startswith("a traceroute probe")



def test_traceroutes_captured_without_icmp_are_probes_too() -> None:
    """The same lab captured with the filter `tcp` (no time exceeded at all): traceroute
    -T's TTL 1-3 probes read control_unanswered ("never got an answer", a firewall fix)
    and tcptraceroute's handshake_incomplete. A SYN with TTL <= 30 as captured is a
    probe's either way; step 1 says no time exceeded is in the capture."""
    analysis = shared_analysis(CAPTURES / "verdicts56" /
                               "traceroute-probes-beside-job-tcp-filter.pcap")
    assert analysis.verdict == "pass", errors(analysis)
    assert analysis.findings == []
    step = _session(analysis, 5054).steps[0]
    assert step.status == "ok"
    assert "no router's ICMP time exceeded for it is in the capture (a router may send " \
           "none; a capture filter on TCP, such as tcp port 10000, leaves them out)" \
           in _words(step.detail)
    assert "the SYN whose TTL lasted reached 10.56.4.2" in _words(step.detail)
