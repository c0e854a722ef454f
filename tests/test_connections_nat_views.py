"""One job captured on both sides of a NAT (new-user trial 26, D7).

Two capture points merged across a NAT hold each translated connection twice, under two
4-tuples; every job became two sessions with half its connections each (INCONCLUSIVE on
good jobs, a false capture_filtered, step_missing for a callback that worked, a rule
"on the media server" naming the NAT). flowcheck.connections.nat_views joins the views
where the NDMP conversation proves it. Real captures: tests/data/trial26-nat.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import stored_analysis

from flowcheck.connections.nat_views import fold_nat_views
from flowcheck.model import Connection, NdmpAddress, NdmpMessage, NdmpStream
from flowcheck.pipeline import Analysis

LAB = Path(__file__).resolve().parent / "data" / "trial26-nat"


def _analyze(name: str) -> Analysis:
    return stored_analysis(LAB / f"{name}.pcap.gz")


@pytest.mark.parametrize(("name", "verdict", "errors"), [
    ("be-snat-open-merged-M-A", "pass", []),
    ("nat-dnat-ok-merged-M-A", "pass", []),
    ("ndm-snat-merged-M-A", "pass", []),
    ("nat-dnat-merged-M-A", "fail", ["announced_address_mismatch"]),
    ("nat-snat-cbblocked-merged-M-A", "fail", ["callback_unanswered"]),
])
def test_merged_captures_across_a_nat_are_one_job(name: str, verdict: str,
                                                   errors: list[str]) -> None:
    analysis = _analyze(name)
    assert len(analysis.sessions) == 1
    assert analysis.verdict == verdict
    assert sorted(f.code for f in analysis.findings if str(f.severity) == "error") == errors
    codes = {f.code for f in analysis.findings}
    assert not codes & {"capture_filtered", "unannounced_connection", "step_missing"}
    views = [f for f in analysis.findings if f.code == "capture_duplicates"
             and "on both sides of a NAT" in f.message]
    assert len(views) == 1


def test_the_nat_views_finding_names_the_translation() -> None:
    analysis = _analyze("nat-dnat-merged-M-A")
    [views] = [f for f in analysis.findings if "on both sides of a NAT" in f.message]
    assert "10.99.0.2 seen as 10.88.0.2" in views.message
    # The media server's unanswered SYNs to the announced inside address are kept.
    [mismatch] = [f for f in analysis.findings if f.code == "announced_address_mismatch"]
    assert "sent its SYNs to 10.88.0.2:6001" in mismatch.message


def _conn(uid: str, orig: tuple[str, int], resp: tuple[str, int], ts: float,
          ttl: int) -> Connection:
    return Connection(uid=uid, orig_h=orig[0], orig_p=orig[1], resp_h=resp[0],
                      resp_p=resp[1], ts=ts, syn_ts=ts, orig_bytes=500, resp_bytes=700,
                      orig_ttl=ttl, first_frame=int(uid[1:]))


def _stream(uid: str, start: float, port: int = 6001, spread: float = 0.0) -> NdmpStream:
    messages = []
    for n in range(6):
        direction = "orig" if n % 2 == 0 else "resp"
        messages.append(NdmpMessage(
            frame=n + 1, ts=start + n * 0.01 + (spread if n == 5 else 0.0),
            direction=direction, sequence=n // 2 + 1,
            type="request" if direction == "orig" else "reply", code=0x409, name="X",
            error=0, reply_sequence=0 if direction == "orig" else n // 2 + 1,
            addresses=[NdmpAddress("10.99.0.2", port)] if n == 5 else []))
    return NdmpStream(uid=uid, messages=messages)


def test_dnat_views_are_joined_and_the_originators_kept() -> None:
    near = _conn("C1", ("10.77.0.1", 5099), ("10.99.0.2", 10000), 1.0, 64)
    far = _conn("C2", ("10.77.0.1", 5099), ("10.88.0.2", 10000), 1.0002, 63)
    data_near = _conn("C3", ("10.77.0.1", 5002), ("10.99.0.2", 6001), 1.1, 64)
    data_far = _conn("C4", ("10.77.0.1", 5002), ("10.88.0.2", 6001), 1.1002, 63)
    kept, pairs = fold_nat_views([far, near, data_far, data_near],
                                 [_stream("C2", 1.0002), _stream("C1", 1.0)])
    assert [c.uid for c in kept] == ["C1", "C3"]
    assert [(a.uid, b.uid) for a, b in pairs] == [("C1", "C2"), ("C3", "C4")]


def test_two_jobs_alike_are_not_joined() -> None:
    # Both ends differ: two media servers' jobs to two agents, not one NAT.
    one = _conn("C1", ("10.77.0.1", 5099), ("10.99.0.2", 10000), 1.0, 64)
    two = _conn("C2", ("10.77.0.3", 5099), ("10.88.0.2", 10000), 1.0, 64)
    assert fold_nat_views([one, two], [_stream("C1", 1.0), _stream("C2", 1.0)])[1] == []
    # One end the same, but the messages at another rhythm, or other announced ports.
    two = _conn("C2", ("10.77.0.1", 5099), ("10.88.0.2", 10000), 1.0, 63)
    assert fold_nat_views([one, two], [_stream("C1", 1.0),
                                       _stream("C2", 1.0, spread=0.5)])[1] == []
    assert fold_nat_views([one, two], [_stream("C1", 1.0),
                                       _stream("C2", 1.0, port=6002)])[1] == []


def test_merged_captures_keep_their_expected_results() -> None:
    """Judged as `flowcheck regress` judges the stored captures (they live here, not
    under captures/, for the tshark comparisons of every stored capture: see README)."""
    from flowcheck.regress import find_cases, run_cases

    results = run_cases(find_cases([str(LAB)]))
    assert len(results) == 5
    assert [(r.case.capture.name, r.changes, r.error) for r in results
            if r.changes or r.error] == []


def test_the_nat_views_finding_is_timed_at_its_first_frame() -> None:
    [views] = [f for f in _analyze("nat-dnat-merged-M-A").findings
               if "on both sides of a NAT" in f.message]
    assert views.ts is not None and views.frames


def test_crosscheck_compares_both_views_of_a_merged_capture(
        capsys: pytest.CaptureFixture[str]) -> None:
    """tshark decodes each translated control connection twice (once per capture point):
    crosscheck compares the far view too, which the analysis leaves out (the re-check of
    trial 26: exit 1 with 10-26 "differences" of no reason on every merged capture). The
    command in the test's process (its words and exit code are the point, not a start)."""
    from flowcheck.cli.main import run

    name = "nat-dnat-ok-merged-M-A"
    code = run(["crosscheck", str(LAB / f"{name}.pcap.gz"), "--config",
                str(LAB / f"{name}.toml")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "no differences" in out
