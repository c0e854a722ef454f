"""A callback under another address than the control connection's (new-user trial 19).

D1: the agent's callback from a NAT's address, between second interfaces, or over IPv4
beside an IPv6 control connection was left "other", so good jobs failed with step_missing
(in `live` too). D5: the agent's callback to the job engine's private address behind a
NAT, retried unanswered, read as no callback, with a firewall fix for the NAT's address.
Real captures: captures/lab-trial19-callback (their .toml say how each was made).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier
from flowcheck.model import Connection, NdmpMessage, NdmpStream
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab-trial19-callback"
RANGES = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})
BE9 = load_profile("backup-exec-9")
M, A, NAT = "10.90.0.1", "10.90.0.100", "10.90.0.254"


def _analyze(name: str) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(LAB / f"{name}.pcap.gz")], config), config)


def _codes(analysis: Analysis, severity: str = "error") -> list[str]:
    return [f.code for f in analysis.findings if str(f.severity) == severity]


@pytest.mark.parametrize(("name", "elsewhere"), [
    ("v6-dualstack", "dual-stack hosts"),
    ("n2-nat-vip-announced", "a NAT in front of the agent"),
    ("mh3-jobengine-other-nic", "a second interface of each"),
])
def test_good_job_calling_back_under_another_address_passes(name: str, elsewhere: str) -> None:
    analysis = _analyze(name)
    assert analysis.verdict == "pass", _codes(analysis)
    [session] = analysis.sessions
    step = session.steps[1]
    assert (step.step, step.status) == (2, "ok")
    assert session.callback_uid == "C2" and "under another address" in step.detail
    assert elsewhere in step.detail and "vendor message (frame" in step.detail


def test_nat_job_reports_its_real_failure_only() -> None:
    """n1: the callback came from the NAT's address; the agent's inside address in its
    DATA_LISTEN replies is the one failure."""
    analysis = _analyze("n1-nat-vip")
    assert analysis.verdict == "fail"
    assert _codes(analysis) == ["announced_address_mismatch"] * 2
    step = analysis.sessions[0].steps[1]
    assert step.status == "ok" and f"from {NAT}, not the agent's" in step.detail


def test_callback_to_the_job_engine_behind_a_nat_is_unanswered_and_says_why() -> None:
    analysis = _analyze("nm1-media-behind-nat")
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "callback_unanswered" and finding.uid == "C2"
    assert finding.frames == [17, 19, 20, 21]
    assert "calls back 10.91.0.2, not 10.90.0.254, the address the control connection " \
        "came from" in finding.message
    assert "NAT in front of the media server" in finding.message
    assert "opening the media range on either host changes nothing" in finding.message
    assert "one direction only" not in finding.message
    assert finding.fix.startswith("Connect the media server and the agent without a NAT")
    assert "NAT device 10.90.0.254 forward 5001-5100" in finding.fix
    assert not finding.fix.startswith("Allow")
    step = analysis.sessions[0].steps[1]
    assert step.status == "failed" and "to 10.91.0.2, not the media server's" in step.detail


def test_live_passes_the_nat_job() -> None:
    """`live` builds its sessions the same way: no step_missing streamed, a pass."""
    config = build_config(load_file(LAB / "n2-nat-vip-announced.toml"))
    data = gzip.decompress((LAB / "n2-nat-vip-announced.pcap.gz").read_bytes())
    events = list(LiveVerifier(config, interval=0.0).run(io.BytesIO(data)))
    assert not [e for e in events if e.kind == "finding" and e.finding is not None
                and e.finding.code == "step_missing"]
    assert events[-1].analysis is not None and events[-1].analysis.verdict == "pass"


def _conn(uid: str, orig: str, oport: int, resp: str, rport: int, ts: float,
          end: float = 10.0) -> Connection:
    c = Connection(uid, orig, oport, resp, rport, ts, last_ts=end, syn_frames=[int(ts * 100)])
    c.synack_frames, c.established, c.conn_state = [int(ts * 100) + 1], True, "SF"
    return c


def _vendor_stream(uid: str, ts: float) -> NdmpStream:
    vendor = NdmpMessage(15, ts, "orig", 5, "request", 0xF001, "NDMP_VENDOR_0xF001", 0, 0)
    return NdmpStream(uid, 4, messages=[vendor])


def test_a_nat_source_is_tied_only_after_the_vendor_message() -> None:
    control = _conn("C", M, 5053, A, 10000, 0.0)
    early = _conn("E", NAT, 6090, M, 5001, 0.5)  # before the job engine named its port
    callback = _conn("B", NAT, 6095, M, 5001, 1.2)
    (session,) = build_sessions([control, early, callback], [_vendor_stream("C", 1.0)],
                                RANGES, BE9)
    assert session.callback_uid == "B" and session.callback_elsewhere
    assert early.role == "other"


def test_not_from_the_agent_range_is_no_callback() -> None:
    control = _conn("C", M, 5053, A, 10000, 0.0)
    other = _conn("O", NAT, 40000, M, 5001, 1.2)
    (session,) = build_sessions([control, other], [_vendor_stream("C", 1.0)], RANGES, BE9)
    assert session.callback_uid is None and other.role == "other"


def test_two_jobs_waiting_for_one_nat_callback_take_none() -> None:
    """Two jobs at once from one media server, both agents behind one NAT: a callback
    from the NAT's address fits either, so neither takes it."""
    first = _conn("C1", M, 5053, A, 10000, 0.0)
    second = _conn("C2", M, 5054, "10.90.0.101", 10000, 0.1)
    callback = _conn("B", NAT, 6095, M, 5001, 1.2)
    sessions = build_sessions([first, second, callback],
                              [_vendor_stream("C1", 1.0), _vendor_stream("C2", 1.1)],
                              RANGES, BE9)
    assert [s.callback_uid for s in sessions] == [None, None]
    assert callback.role == "other"


def test_another_sessions_agent_is_not_stolen() -> None:
    """A connection from the agent of another session (which has its callback) is that
    session's traffic, not a callback of this one under another address."""
    first = _conn("C1", M, 5053, A, 10000, 0.0)
    own = _conn("B1", A, 6001, M, 5001, 0.5)
    second = _conn("C2", M, 5054, "10.90.0.101", 10000, 0.1)
    stray = _conn("X", A, 6002, M, 5002, 1.2)  # first agent again, not the second's
    sessions = build_sessions([first, own, second, stray],
                              [_vendor_stream("C2", 1.0)], RANGES, BE9)
    assert [s.callback_uid for s in sessions] == ["B1", None]
    assert stray.role == "other"


def test_unanswered_between_second_interfaces_keeps_the_firewall_words() -> None:
    """Both ends on another network (the agent reaches it from an address of its own
    there): a firewall on that interface is as likely as no route, so no NAT reading."""
    from flowcheck.verify import check_all

    control = _conn("C", "10.77.0.1", 5041, "10.77.0.2", 10000, 0.0)
    callback = Connection("B", "10.78.0.2", 6081, "10.78.0.1", 5001, 1.2, last_ts=4.2,
                          syn_frames=[120, 220, 320, 420], syn_retries=3, conn_state="S0")
    stream = _vendor_stream("C", 1.0)
    (session,) = build_sessions([control, callback], [stream], RANGES, BE9)
    assert session.callback_uid == "B" and session.callback_elsewhere
    findings = check_all([control, callback], [stream], [session], RANGES, BE9)
    [finding] = [f for f in findings if f.code == "callback_unanswered"]
    assert "NAT" not in finding.message and finding.fix.startswith(("Allow", "On"))


def test_ladder_puts_the_nat_address_on_the_agent_side() -> None:
    """The ladder's lane of the callback's NAT address is the agent's, not a bare
    "host" lane between the media server and the agent."""
    from flowcheck.report.ladder_build import build_ladders

    (ladder,) = build_ladders(_analyze("n2-nat-vip-announced"))
    assert [(lane.host, lane.role) for lane in ladder.lanes] == [
        (M, "media server"), (A, "remote agent"), (NAT, "remote agent")]
