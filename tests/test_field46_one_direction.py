"""Field check 46 (captures/field46-matrix, README.md there): dual-stack and all-IPv6
jobs captured one way (tcpdump -Q out).

- Two jobs from one media server to two agents on a dual-stack host, control over IPv6,
  callbacks over IPv4: the media server's RST refusing job 1's callback (frame 11,
  10.77.0.1:5001 -> 10.77.0.2:6054) is in the capture, its SYN is not. It read
  step_missing, "no answer from fd77::1's media ports is in the capture": the answers
  looked for now include the hosts' IPv4 addresses, and the RST is job 1's callback,
  refused (as in IPv4).
- Both peers announce 0.0.0.0 over an all-IPv6 session (the control connection's address
  stands for it), captured on the agent: none of the media server's data SYNs can be in
  the capture. It read announced_address_mismatch ("the attempt stays on its own host");
  now announced_not_used, what the capture shows (no answer from [fd77::2]:600x).

Real lab captures (the lab's fault matrix, seeds 91 and 93), each with its .toml.
"""

from __future__ import annotations

import json

import pytest
from test_field46_dual_stack_data import STORED, _analyze

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.verify.answer_seen import callback_elsewhere
from flowcheck.verify.context import Context


def test_dual_stack_callback_reset_one_direction_reads_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    report = _analyze("callback-reset-dual-stack-one-direction-two-jobs", capsys)
    assert report["verdict"] == "fail"
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [(f["code"], f["session"]) for f in errors] == [("callback_refused", "S1")]
    assert 11 in errors[0]["frames"]  # the RST
    first = next(s for s in report["sessions"] if s["id"] == "S1")
    step2 = first["steps"][1]
    assert step2["status"] == "failed"
    assert "10.77.0.2" in step2["detail"] and "dual-stack" in step2["detail"]
    assert "no answer from fd77::1" not in json.dumps(report["findings"])


def test_second_job_callback_is_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    """Job 2's callback (10.77.0.3 -> 10.77.0.1:5051, the media server's SYN-ACK) fitted
    both sessions' windows; once job 1 has its own, it is job 2's: step 2 ok."""
    report = _analyze("callback-reset-dual-stack-one-direction-two-jobs", capsys)
    second = next(s for s in report["sessions"] if s["id"] == "S2")
    assert second["steps"][1]["status"] == "ok"
    assert "10.77.0.3" in second["steps"][1]["detail"]


def test_v6_any_one_direction_is_not_an_address_fault(
        capsys: pytest.CaptureFixture[str]) -> None:
    report = _analyze("data-synack-dropped-v6-any-one-direction", capsys)
    assert report["verdict"] == "fail"
    codes = [f["code"] for f in report["findings"]]
    assert "announced_address_mismatch" not in codes
    assert codes.count("announced_not_used") == 4
    assert "capture_one_direction" in codes
    unused = next(f for f in report["findings"] if f["code"] == "announced_not_used")
    assert "stays on its own host" not in unused["message"]
    # The answer looked for is the control connection's address's: 0.0.0.0 names no host.
    assert "no answer from [fd77::2]:6001" in unused["message"]
    assert "fd77::2 stands for it" in unused["message"]
    assert "[fd77::2]:6001" in unused["fix"]
    step4 = report["sessions"][0]["steps"][3]
    assert step4["status"] == "missing"
    assert step4["detail"].startswith("no answer from [fd77::2]:6001 in the capture")


def test_untied_other_family_callback_is_no_missing_step() -> None:
    """verify.answer_seen.callback_elsewhere: with job 1's callback left untied (as when
    the tie is ambiguous), the RST from 10.77.0.1's media port to 10.77.0.2, the hosts'
    IPv4 addresses, still counts as an answer the capture holds, so step 2 is not
    "missing: no answer from fd77::1's media ports"; job 2's callback from 10.77.0.3 (its
    session's agent) does not count for job 1."""
    case = STORED / "callback-reset-dual-stack-one-direction-two-jobs"
    config = build_config(load_file(case.with_suffix(".toml")))
    analysis = analyze(read_traffic([str(case.with_suffix(".pcap"))], config), config)
    assert analysis.profile is not None
    first = next(s for s in analysis.sessions if s.id == "S1")
    callback = first.callback_uid
    first.callback_uid = None
    ctx = Context(analysis.traffic.connections, analysis.traffic.streams,
                  analysis.sessions, config, analysis.profile)
    assert callback_elsewhere(ctx, first)
    without = [c for c in analysis.traffic.connections if c.uid != callback]
    ctx = Context(without, analysis.traffic.streams, analysis.sessions, config,
                  analysis.profile)
    assert not callback_elsewhere(ctx, first)
