"""A session that shows no sign of a job is a browse only when the capture could have
shown the job and the failure that would have stopped it first (docs/findings.md).
Trial 20 D4: a capture that ended 3 ms into the job (stopped-after-callback-syn) and a
job stopped by its failed callback (callback-blocked, callback-rejected) were headed
"browse", the later steps of the second "no backup or restore started in this session
(browse)". The JSON kind keeps the contract's "browse" (docs/json.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.model import Session
from flowcheck.pipeline import analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _session(name: str) -> Session:
    config = build_config(load_file(LAB / f"{name}.toml"))
    [session] = analyze(read_traffic([str(LAB / f"{name}.pcap")], config), config).sessions
    return session


def test_a_capture_that_ended_before_the_job_could_show_has_no_kind() -> None:
    session = _session("stopped-after-callback-syn")
    assert [s.status for s in session.steps[2:]] == ["unknown"] * 3
    assert session.kind_words(short=True) == "kind unknown"
    words = session.kind_words()
    assert words == ("kind unknown (the capture ended 6.85 ms after the control connection "
                     "opened, while it was still open: a backup or restore may have started "
                     "later)"), words
    assert session.as_dict()["kind"] == "browse"  # the contract has no "unknown"


@pytest.mark.parametrize("name", ["callback-blocked", "callback-rejected"])
def test_a_job_stopped_by_its_failed_callback_is_no_browse(name: str) -> None:
    session = _session(name)
    assert session.steps[1].status == "failed"
    for step in session.steps[2:]:
        assert step.status == "not_applicable"
        assert step.detail == "not reached: the job stopped after step 2 failed"
    assert session.kind_words() == ("kind unknown (the job stopped after step 2 failed, "
                                    "before anything showed a backup, a restore or a browse)")
    assert session.as_dict()["kind"] == "browse"


def test_a_whole_browse_stays_browse() -> None:
    session = _session("browse-only")
    assert session.kind_words() == "browse"
    assert {s.detail for s in session.steps[2:]} == {
        "no backup or restore started in this session (browse)"}


def test_a_tls_start_job_stopped_by_its_refused_callback_is_not_said_unseen() -> None:
    """Lab matrix seed 115 run 0: a backup in TLS from the control connection's first
    byte whose callback M rejected with ICMPv6 was headed "kind unknown (none of its NDMP
    conversation in the capture)", though the capture holds it, encrypted; its later
    steps said the job stopped after step 2 failed, as its kind now does."""
    folder = LAB.parent / "field52-matrix"
    name = "tls-start-callback-rejected-icmpv6-sniffer-loss"
    config = build_config(load_file(folder / f"{name}.toml"))
    [session] = analyze(read_traffic([str(folder / f"{name}.pcapng.gz")], config),
                        config).sessions
    assert session.steps[1].status == "failed"
    assert {s.detail for s in session.steps[2:]} == {
        "not reached: the job stopped after step 2 failed"}
    assert session.kind_words() == ("kind unknown (the job stopped after step 2 failed, "
                                    "before anything showed a backup, a restore or a browse)")
    assert session.as_dict()["kind"] == "browse"
