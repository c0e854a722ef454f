"""Probes of the NDMP port that are not the job (new-user trial 11, D1).

captures/ndmjob-probes/probes-10000-media.pcap.gz: a good ndmjob backup 10.77.0.1 ->
10.77.1.2 (S1) and seven probes of TCP 10000 during it (its .toml lists them): S2
10.77.0.1 -> 10.77.1.5 refused (nothing listens), S3 a SYN scan of the agent from
10.77.0.7 (SYN frame 3180, SYN-ACK 3193, the scanner's RST 3194), S4 a SYN scan of
10.77.1.5 (refused), S6 the agent host to the media server's closed port 10000. Each
probe read as a failed job: 3 control_refused and a handshake_incomplete "return path
blocked" failed the verdict. (The .toml's S2 and S3, HTTP and TLS on port 10000, are no
sessions since trial 23 D1: sessions.other_protocol; the others moved up two.)"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Session, Severity
from flowcheck.pipeline import Analysis, analyze, read_traffic

PROBES = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-probes"
CAPTURE = PROBES / "probes-10000-media.pcap.gz"
MEDIA, AGENT, SCANNER = "10.77.0.1", "10.77.1.2", "10.77.0.7"


def _analyze(**overrides: object) -> Analysis:
    config = build_config(load_file(PROBES / "probes-10000-media.toml"), overrides)
    return analyze(read_traffic([str(CAPTURE)], config), config)


def _errors(analysis: Analysis, session: str | None = None) -> list[str]:
    return sorted(f.code for f in analysis.findings if f.severity == Severity.ERROR
                  and (session is None or f.session == session))


def _session(analysis: Analysis, sid: str) -> Session:
    return next(s for s in analysis.sessions if s.id == sid)


def _warning(analysis: Analysis, sid: str) -> str:
    return next(f.message for f in analysis.findings
                if f.code == "host_not_configured" and f.session == sid)


def test_half_open_syn_scan_is_a_port_check_not_a_blocked_return_path() -> None:
    """Whatever the hosts: with the scanner configured as a media server, S3 is judged,
    and its SYN-ACK answered by the scanner's RST 13 us later, the SYN never resent, is
    a half-open port check (the SYN-ACK arrived), not handshake_incomplete."""
    analysis = _analyze(media_servers=[MEDIA, SCANNER])
    scan = _session(analysis, "S3")
    assert (scan.media_server, scan.remote_agent, scan.side) == (SCANNER, AGENT, False)
    assert "handshake_incomplete" not in _errors(analysis)
    assert scan.steps[0].status == "ok"
    assert "half-open port check" in scan.steps[0].detail
    assert "return path works" in scan.steps[0].detail
    assert scan.steps[0].frames == [3180, 3193, 3194]
    assert {s.status for s in scan.steps[1:]} == {"not_applicable"}


def test_agent_host_to_the_media_servers_closed_port_is_side_traffic() -> None:
    """S6: the configured hosts with the roles reversed; the configured job S1 passes."""
    analysis = _analyze()
    reverse = _session(analysis, "S6")
    assert (reverse.media_server, reverse.remote_agent, reverse.side) == (AGENT, MEDIA, True)
    assert _errors(analysis, "S6") == []
    words = _warning(analysis, "S6")
    assert "roles reversed" in words and "Not judged as a job: session S1 runs" in words
    assert "refused" in words and "not reported as control_refused" in words
    assert not any(f"service on {MEDIA}" in f.fix for f in analysis.findings)
    assert analysis.verdict == "pass"
    assert [s.status for s in _session(analysis, "S1").steps] == ["ok"] * 4


def test_media_server_probing_an_unconfigured_host_is_side_traffic() -> None:
    """S2 and S4: port 10000 of 10.77.1.5 (not in remote_agents) refused."""
    analysis = _analyze()
    for sid in ("S2", "S4"):
        assert _session(analysis, sid).remote_agent == "10.77.1.5"
        assert _session(analysis, sid).side
        assert _errors(analysis, sid) == []
        assert "not reported as control_refused" in _warning(analysis, sid)
    assert _errors(analysis) == [] and analysis.verdict == "pass"


def test_with_the_lists_swapped_every_session_keeps_its_errors() -> None:
    """With media_servers and remote_agents swapped, only the reverse probe S6 runs in
    the configured roles, and it spoke no NDMP: no session is the configured job, so
    every session is judged and the refusals fail the verdict as before."""
    analysis = _analyze(media_servers=[AGENT], remote_agents=[MEDIA])
    assert not any(s.side for s in analysis.sessions)
    assert _errors(analysis) == ["control_refused"] * 3
    assert analysis.verdict == "fail"
    assert not any("Not judged" in f.message for f in analysis.findings)


def test_a_job_seen_only_through_a_nat_keeps_its_errors() -> None:
    """captures/lab/data-port-dropped.pcap (the agent's firewall drops the data
    connection's SYNs) with the agent configured under another address, as a NAT shows
    it on one side (trial 10): its only session is outside the configuration, so it is
    the job, judged: data_unanswered fails the verdict."""
    lab = PROBES.parent / "lab"
    config = build_config(load_file(lab / "data-port-dropped.toml"),
                          {"media_servers": ["10.77.0.1"], "remote_agents": ["192.168.5.20"]})
    analysis = analyze(read_traffic([str(lab / "data-port-dropped.pcap")], config), config)
    assert [s.side for s in analysis.sessions] == [False]
    assert "data_unanswered" in _errors(analysis) and analysis.verdict == "fail"


def test_a_job_to_an_agent_missing_from_the_list_is_judged() -> None:
    # Trial 12, D2: next to a configured job, a backup from the configured media server to
    # a new agent not yet in remote_agents spoke NDMP both ways and then failed (its data
    # connection never got through): a job of theirs, not side traffic.
    folder = PROBES.parent / "ndmjob-unlisted"
    config = build_config(load_file(folder / "unlisted-agent-fail-media.toml"))
    analysis = analyze(read_traffic([str(folder / "unlisted-agent-fail-media.pcap.gz")],
                                    config), config)
    assert analysis.verdict == "fail"
    unlisted = next(s for s in analysis.sessions if s.remote_agent == "10.77.1.5")
    assert not unlisted.side and _errors(analysis, unlisted.id)
    assert "Not judged" not in _warning(analysis, unlisted.id)
    listed = next(s for s in analysis.sessions if s.remote_agent == "10.77.1.2")
    assert not _errors(analysis, listed.id)
