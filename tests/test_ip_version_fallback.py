"""A control connection given up for the agent's other IP version (new-user trial 28, D1).

A dual-stack media server given a name with AAAA and A records tries the agent's IPv6
address first; an agent listening on IPv4 only refuses it (or a firewall drops it), and
the media server runs the whole job over IPv4 at once. flowcheck said FAIL,
control_refused / control_unanswered, "start the Remote Agent service": the job worked.
Real captures: captures/lab-trial28-dualstack (their .toml say how each was made).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from scapy.layers.inet import IP
from scapy_files import read_packets, write_packets
from stored import stored_analysis

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier
from flowcheck.model import Connection, Session
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions.fallback import FALLBACK_SECONDS, Fallback
from flowcheck.sources import iter_batches
from flowcheck.verify.fallback import _attempt_words as attempt_words
from flowcheck.verify.fallback import refused_with

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab-trial28-dualstack"


def _analyze(name: str, path: Path | None = None) -> Analysis:
    return stored_analysis(path or LAB / f"{name}.pcap.gz", config_path=LAB / f"{name}.toml")


def _codes(analysis: Analysis, severity: str) -> list[str]:
    return [f.code for f in analysis.findings if str(f.severity) == severity]


def test_refused_ipv6_attempt_then_ipv4_job_passes_with_a_warning() -> None:
    analysis = _analyze("happy-eyeballs-v6-rst")
    assert analysis.verdict == "pass", _codes(analysis, "error")
    [finding] = [f for f in analysis.findings if f.code == "ip_version_fallback"]
    assert str(finding.severity) == "warning"
    assert (finding.session, finding.uid) == ("S1", "C1")
    assert "[fd77::2]:10000" in finding.message and "10.77.0.2:10000" in finding.message
    assert "fell back to IPv4" in finding.message and "session S2" in finding.message
    assert "does not accept NDMP over IPv6" in finding.message
    assert "Start the Remote Agent" not in finding.fix
    assert "listen on IPv6" in finding.fix and "IPv4 address 10.77.0.2 only" in finding.fix
    first, job = analysis.sessions
    assert first.steps[0].status == "not_applicable"
    assert "fell back to IPv4" in first.steps[0].detail and "S2" in first.steps[0].detail
    assert "S1" in first.kind_words() or "S2" in first.kind_words()
    assert [s.status for s in job.steps] == ["ok"] * 5
    assert "C1" in job.steps[0].detail and "IPv6" in job.steps[0].detail


def test_dropped_ipv6_attempt_then_ipv4_job_passes_naming_the_delay() -> None:
    analysis = _analyze("happy-eyeballs-v6-drop")
    assert analysis.verdict == "pass", _codes(analysis, "error")
    [finding] = [f for f in analysis.findings if f.code == "ip_version_fallback"]
    assert "4 SYNs" in finding.message and "3.51 s" in finding.message
    assert "one direction" not in finding.message
    assert "control_unanswered" not in _codes(analysis, "error")


def test_ipv4_job_long_after_a_refused_ipv6_attempt_is_no_fallback(tmp_path: Path) -> None:
    """The IPv4 job 30 s after the refusal: the refusal stays the error it is."""
    packets = read_packets(LAB / "happy-eyeballs-v6-rst.pcap.gz")
    for packet in packets:
        if IP in packet:
            packet.time += 30
    shifted = tmp_path / "late.pcap"
    write_packets(str(shifted), sorted(packets, key=lambda p: p.time))
    analysis = _analyze("happy-eyeballs-v6-rst", shifted)
    assert analysis.verdict == "fail"
    assert "control_refused" in _codes(analysis, "error")
    assert "ip_version_fallback" not in _codes(analysis, "warning")


def test_refused_ipv6_callback_before_the_ipv4_callback_is_told() -> None:
    """The contrast: the agent's refused IPv6 callback was "other", told nowhere."""
    analysis = _analyze("callback-fallback-v6-rst")
    assert analysis.verdict == "pass", _codes(analysis, "error")
    [finding] = [f for f in analysis.findings if f.code == "ip_version_fallback"]
    assert (finding.session, finding.uid, str(finding.severity)) == ("S1", "C2", "warning")
    assert "[fd77::1]:5001" in finding.message and "(C3), the session's callback" in finding.message
    assert "--media-server fd77::1 --remote-agent fd77::2" in finding.fix
    assert [s.status for s in analysis.sessions[0].steps] == ["ok"] * 5


def test_lone_ipv6_syn_given_up_for_ipv4_in_a_short_capture(tmp_path: Path) -> None:
    """A client racing the two versions (RFC 8305) sends one IPv6 SYN and connects over
    IPv4 250 ms later; the capture ends soon after the job: no resend could be judged,
    yet the attempt was given up, so neither unknown steps nor an inconclusive verdict."""
    packets = read_packets(LAB / "happy-eyeballs-v6-drop.pcap.gz")
    shift = packets[4].time - packets[0].time - Decimal("0.25")
    for packet in packets[4:]:
        packet.time -= shift
    lone = tmp_path / "lone.pcap"
    write_packets(str(lone), [packets[0], *packets[4:]])
    analysis = _analyze("happy-eyeballs-v6-drop", lone)
    assert analysis.verdict == "pass", analysis.findings
    [finding] = [f for f in analysis.findings if f.code == "ip_version_fallback"]
    assert "sent a SYN" in finding.message and "or slower than IPv4" in finding.message
    first = analysis.sessions[0]
    assert [s.status for s in first.steps] == ["not_applicable"] * 5


def _live_codes(path: Path, upto: int, now: float) -> list[str]:
    """The codes `live` prints at packet time `now` having read the first `upto`
    packets."""
    config = build_config(load_file(LAB / "happy-eyeballs-v6-rst.toml"))
    verifier = LiveVerifier(config, interval=0.0)
    packets = read_packets(path)
    cut = path.parent / "cut.pcap"
    write_packets(str(cut), packets[:upto])
    reader = iter_batches([str(cut)])
    for batch in reader:
        verifier.tracker.feed(batch)
    verifier._now = now
    return [e.finding.code for e in verifier._certain_findings(reader.captures)
            if e.finding is not None]


def test_live_waits_for_the_fallback_before_printing_a_refusal(tmp_path: Path) -> None:
    """`live` printed control_refused as soon as the IPv6 RST was read; the IPv4 SYN
    0.2 ms later takes it back (ip_version_fallback), so it waits FALLBACK_SECONDS."""
    source = tmp_path / "he.pcap.gz"
    source.write_bytes((LAB / "happy-eyeballs-v6-rst.pcap.gz").read_bytes())
    rst_time = float(read_packets(source, 2)[1].time)
    assert "control_refused" not in _live_codes(source, 2, rst_time + 0.5)
    assert "control_refused" in _live_codes(source, 2, rst_time + FALLBACK_SECONDS + 0.1)


def test_attempt_of_hosts_configured_by_ipv4_is_told_as_the_fallback() -> None:
    """With the hosts configured by their IPv4 addresses the IPv6 attempt is side traffic:
    its words say it was the fallback's attempt, not a port check or scan."""
    config = build_config({**load_file(LAB / "happy-eyeballs-v6-rst.toml"),
                           "media_servers": ["10.77.0.1"], "remote_agents": ["10.77.0.2"]})
    analysis = analyze(read_traffic([str(LAB / "happy-eyeballs-v6-rst.pcap.gz")], config),
                       config)
    assert analysis.verdict == "pass"
    first = next(f for f in analysis.findings if f.code == "host_not_configured")
    assert "an attempt the media server gave up for IPv4, where session S2 ran the job" \
        in first.message
    assert "a port check or scan" not in first.message


def _attempt(resp: str, **fields: object) -> Connection:
    attempt = Connection("C1", "fd77::1", 40000, resp, 10000, 1.0, last_ts=1.1,  # type: ignore[arg-type]
                         syn_frames=[1], **fields)
    attempt.conn_state = "S0"
    return attempt


def test_attempt_refused_by_icmpv6_says_icmpv6() -> None:
    """An IPv6 attempt refused by an ICMPv6 unreachable reads so, in the control and the
    callback fallback's words alike (one helper; they said "an ICMP unreachable")."""
    job = Connection("C2", "10.77.0.1", 40001, "10.77.0.2", 10000, 2.0, last_ts=9.0,
                     syn_frames=[5])
    session = Session(id="S1", control_uid="C2", media_server="10.77.0.1",
                      remote_agent="10.77.0.2", version=4, kind="backup")
    v6 = Fallback([_attempt("fd77::2", icmp_frames=[2])], job, session)
    assert "over IPv6 with an ICMPv6 unreachable (C1)" in attempt_words(v6)
    assert refused_with(v6.attempts[0]) == "an ICMPv6 unreachable"
    v4 = _attempt("10.77.0.2", icmp_frames=[2])
    assert refused_with(v4) == "an ICMP unreachable"
    assert refused_with(_attempt("fd77::2", icmp_frames=[2], resp_rst=True)) == "a RST"
