"""Field check 52's lab matrix (captures/field52-matrix, README.md there), seed 115.

Run 7: two TLS backups at once between dual-stack hosts through a router that rejects
job 1's data SYNs, captured `-Q out` on the media server (its packets only). Each
job's IPv4 callback (C3, C8) is in the capture as the media server's SYN-ACK and fits
both IPv6 sessions (Session.callback_ambiguous), yet each session's step 2 read "no
callback in the capture, but the capture holds no packet from fd77:1::2 to fd77::1".
Run 27: a backup in TLS from the control connection's first byte whose one-port agent
range left no port for its data; the agent closed the session right after its callback.
It read PASS, its steps 3-5 "no backup or restore started in this session (browse)": a
session with no NDMP message in the clear shows neither a job nor its absence.
Run 16: both hosts on one segment captured with dumpcap and merged keeping their two
interfaces; copies told by interface (one TTL, no incoming or outgoing mark) read "a
router's or bridge's, captured on several interfaces at once (tcpdump -i any on it)".
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis

from flowcheck.pipeline import Analysis

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "captures" / "field52-matrix"
TWO_JOBS_OUT = HERE / "two-tls-jobs-dual-stack-data-rejected-router-out-on-media"
RANGE_SMALL_TLS = HERE / "tls-start-range-small-agent-closes-after-callback"
MERGED_PCAPNG = HERE / "ndmjob-data-syns-dropped-both-hosts-merged-pcapng-snap128"


def _analysis(case: Path, suffix: str) -> Analysis:
    """The stored case CASE + suffix, analysed with its sidecar CASE.toml."""
    return stored_analysis(case.with_name(case.name + suffix))


def test_callbacks_that_fit_both_sessions_in_one_direction_are_named_not_denied() -> None:
    analysis = _analysis(TWO_JOBS_OUT, ".pcap.gz")
    assert analysis.verdict == "inconclusive"
    for session, agent in zip(analysis.sessions, ("fd77:1::2", "fd77:1::3"), strict=True):
        assert session.callback_ambiguous == ["C3", "C8"]
        step = session.steps[1]
        assert step.status == "unknown" and step.uids == ["C3", "C8"]
        assert step.detail.startswith(
            "unknown: C3 from 10.77.1.2 to 10.77.0.1:5001 or C8 from 10.77.1.3 to "
            "10.77.0.1:5051 may be this session's callback under another address of the "
            "agent, but each fits another session's as well")
        assert step.detail.endswith(f"; the capture holds no packet from {agent} to "
                                    f"fd77::1 (one direction only), so the agent's SYN "
                                    f"from {agent} could not be seen")
        assert "no callback in the capture" not in step.detail
    assert not [f for f in analysis.findings if f.code == "step_missing"]


def test_a_tls_start_session_with_no_data_connection_is_no_browse() -> None:
    analysis = _analysis(RANGE_SMALL_TLS, ".pcap.gz")
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok", "ok", "unknown", "unknown", "unknown"]
    why = ("its control connection carries TLS from frame 9 (ndmp_undecodable): the "
           "requests in it, a DATA_* request that started a job among them, cannot be read")
    assert session.kind_words() == f"kind unknown ({why})"
    for step in session.steps[2:]:
        assert step.detail == ("unknown: whether the session started a backup or restore, "
                               f"or failed before one, cannot be seen: {why}")


def test_copies_on_two_unmarked_interfaces_are_not_said_a_routers() -> None:
    analysis = _analysis(MERGED_PCAPNG, ".pcapng.gz")
    assert analysis.verdict == "fail"
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    # Every copy read is on the other interface at its original's TTL: the near ones and
    # the 2 later ones told together (field check 57: it read "2 of them were told ...").
    # Every copy's interfaces are read, the one whose original ended the batch before too
    # (orderfix: "Of the 22 of them whose interfaces were read (not every copy's is)").
    assert ("All of them were told by where they were captured: another of the file's "
            "interfaces, each with its original's TTL, 21 within 0.5 ms of it and 2 later "
            "(1.29 ms to 3.99 ms after it)" in copies.message)
    assert ("a bridge captured on several interfaces at once, each packet as it came in "
            "and as it left, or two capture points' captures (two hosts on one segment) "
            "merged into one file, each on an interface of its own; the file does not "
            "tell which") in copies.message
    assert "tcpdump -i any on it" not in copies.message
    # Two capture points' copies are evidence: kept (newuser63).
    assert copies.fix.startswith("nothing to fix in the network for the copies; keep the "
                                 "file's interfaces together (if they are two capture "
                                 "points', what one point saw and the other did not places "
                                 "a loss between them")
    assert "analyze one of the file's interfaces alone" in copies.fix
    assert "router" not in copies.fix
