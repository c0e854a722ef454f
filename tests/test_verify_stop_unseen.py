"""A later step is "not reached: the job stopped after step 2 failed" only when the
capture shows that stop: the control connection closed, or a CONNECT_CLOSE (a halt, a
stop request) on it after the failed step (flowcheck.verify.kind_shown.after_failed).

resentsyn's sweep: callback-blocked.pcap cut with `editcap -r ... 1-21` (the capture ends
at the fourth callback SYN, 3.08 s after the control connection opened, before the
CONNECT_CLOSE of frame 22) read steps 3-5 "not reached: the job stopped after step 2
failed", a stop the capture does not show. They are `unknown` now, saying how long the
capture went on after step 2's last packet; the FAIL from step 2's SYNs stays.

step5cut: data-port-dropped.pcap cut with `editcap -r ... 1-24` (the capture ends at the
second data SYN, the control connection open) failed step 4 with "the capture ended 0 ms
after the last SYN, so whether that one or a later resend got through cannot be seen"
while step 5 said "no data connection opened, so no data moved". Step 5 is `unknown` there
now (flowcheck.verify.flow_cut), missing again once the capture shows the job's end.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.model import Session, Step
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.verify.kind_shown import settle_browse

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _cut(tmp_path: Path, name: str, last: int, *, folder: Path = LAB,
         suffix: str = ".pcap") -> tuple[str, list[Session]]:
    """The verdict and sessions of stored capture `name` (in `folder`) cut after frame
    `last` (editcap -r: the frames 1..last kept), read with its configuration."""
    cut = tmp_path / f"{name}-1-{last}.pcap"
    subprocess.run(["editcap", "-r", str(folder / f"{name}{suffix}"), str(cut), f"1-{last}"],
                   check=True, capture_output=True)
    config = build_config(load_file(folder / f"{name}.toml"))
    result = analyze(read_traffic([str(cut)], config), config)
    return result.verdict, result.sessions


def test_a_capture_cut_before_the_job_stopped_does_not_say_it_stopped(tmp_path: Path) -> None:
    verdict, [session] = _cut(tmp_path, "callback-blocked", 21)
    assert verdict == "fail"  # step 2's four unanswered SYNs: callback_unanswered
    assert session.steps[1].status == "failed"
    words = ("the capture ends with step 2's last packet (frame 21) with the control "
             "connection still open, no FIN, RST or CONNECT_CLOSE on it: whether the job "
             "stopped after step 2 failed, as a job does, or went on to a backup or restore "
             "cannot be seen")
    for step in session.steps[2:]:
        assert (step.status, step.detail) == ("unknown", f"unknown: {words}")
        assert step.stopped_after == 2
    assert session.kind_words() == f"kind unknown ({words})"
    assert session.as_dict()["kind"] == "browse"  # the contract has no "unknown"


@pytest.mark.parametrize("last", [22, 23])
def test_a_connect_close_or_a_fin_in_the_capture_shows_the_stop(tmp_path: Path,
                                                                 last: int) -> None:
    """Frame 22 is the CONNECT_CLOSE (no FIN yet), 23 the agent's FIN."""
    verdict, [session] = _cut(tmp_path, "callback-blocked", last)
    assert verdict == "fail"
    for step in session.steps[2:]:
        assert (step.status, step.detail) == (
            "not_applicable", "not reached: the job stopped after step 2 failed")
        assert step.stopped_after == 2
    assert session.kind_words() == ("kind unknown (the job stopped after step 2 failed, "
                                    "before anything showed a backup, a restore or a browse)")


@pytest.mark.parametrize(("last", "status"), [(28, "unknown"), (29, "not_applicable")])
def test_an_ipv6_capture_that_ran_on_without_the_close_does_not_say_it_stopped(
        tmp_path: Path, last: int, status: str) -> None:
    """field48-matrix/lost-host-info-reply-callback-dropped: the callback's fourth SYN
    (frame 24, 3.14 s), then only ICMPv6 router and neighbor solicitations until frame 28
    (2.02 s later); frame 29 is the CONNECT_CLOSE. Cut after 28, steps 3-5 read "not
    reached: the job stopped after step 2 failed"."""
    verdict, [session] = _cut(tmp_path, "lost-host-info-reply-callback-dropped", last,
                              folder=LAB.parent / "field48-matrix", suffix=".pcap.gz")
    assert verdict == "fail"
    assert session.steps[1].status == "failed"
    assert {step.status for step in session.steps[2:]} == {status}
    if status == "unknown":
        assert session.steps[2].detail.startswith(
            "unknown: the capture ended 2.02 s after step 2's last packet (frame 24) with the "
            "control connection still open")
    else:
        assert session.steps[2].detail == "not reached: the job stopped after step 2 failed"


def test_settle_browse_reads_the_step_not_its_words() -> None:
    """A later step whose words begin as a not-reached one's, but that after_failed did
    not make (Step.stopped_after None), leaves a browse a browse."""
    session = Session(id="S1", control_uid="C1", media_server="10.0.0.1",
                      remote_agent="10.0.0.2", version=4, kind="browse")
    later = [Step(3, "announcement", "not_applicable",
                  detail="not reached: the job stopped after step 2 failed")]
    settle_browse(session, later)
    assert not session.kind_unknown
    later[0].stopped_after = 2
    settle_browse(session, later)
    assert session.kind_unknown
    assert session.kind_unknown_why == ("the job stopped after step 2 failed, before "
                                        "anything showed a backup, a restore or a browse")


FLOW_CUT = ("unknown: no data connection opened in the capture, but it ends with the "
            "last SYN to {endpoint} (frame {frame}) with the control connection still open, "
            "no FIN, RST or CONNECT_CLOSE on it: whether that SYN or a later resend got "
            "through and the data moved after the capture's end cannot be seen")


@pytest.mark.parametrize(("last", "status"), [(24, "unknown"), (26, "unknown"),
                                              (27, "missing")])
def test_data_flow_after_resent_syns_the_capture_ended_on(tmp_path: Path, last: int,
                                                          status: str) -> None:
    """data-port-dropped: data SYNs at frames 22, 24, 25, 26 (3.07 s), the CONNECT_CLOSE
    at 27. Cut at a resend, step 4 failed and step 5 unknown; with the close, missing."""
    verdict, [session] = _cut(tmp_path, "data-port-dropped", last)
    assert verdict == "fail"  # data_unanswered, from step 4's resent SYNs
    data_connection, data_flow = session.steps[3:5]
    assert data_connection.status == "failed"
    assert data_flow.status == status
    assert data_flow.detail == (
        FLOW_CUT.format(endpoint="10.77.0.2:6001", frame=last) if status == "unknown"
        else "no data connection opened, so no data moved")


@pytest.mark.parametrize(("last", "status"), [(21, "unknown"), (22, "missing")])
def test_a_field_cut_of_dropped_data_syns_leaves_the_flow_unknown(tmp_path: Path, last: int,
                                                                  status: str) -> None:
    """field54-matrix/data-syns-dropped-by-media-input-any-on-media (ndmjob's profile:
    the data connection is step 3, the flow step 4): nine data SYNs over 19.4 s, the
    ninth frame 21; frame 22 the media server's FIN on the control connection."""
    verdict, [session] = _cut(tmp_path, "data-syns-dropped-by-media-input-any-on-media", last,
                              folder=LAB.parent / "field54-matrix", suffix=".pcap.gz")
    assert verdict == "fail"
    data_connection, data_flow = session.steps[-2:]
    assert (data_connection.status, data_flow.status) == ("failed", status)
    if status == "unknown":
        assert data_flow.detail == FLOW_CUT.format(endpoint="10.77.0.1:5016", frame=21)


def test_a_one_direction_cut_says_only_what_it_holds_of_the_control_connection(
        tmp_path: Path) -> None:
    """callback-blocked cut after frame 21 with the agent's packets only (tshark -Y): the
    CONNECT_CLOSE and FIN the media server would send travel the way the capture lacks, so
    steps 3-5 say what it holds, not "the control connection still open, no FIN, RST or
    CONNECT_CLOSE on it" (final61b; kind_shown.still_open_words)."""
    cut = tmp_path / "callback-blocked-agent-1-21.pcap"
    subprocess.run(["tshark", "-r", str(LAB / "callback-blocked.pcap"), "-Y",
                    "frame.number <= 21 && ip.src == 10.77.0.2", "-w", str(cut)],
                   check=True, capture_output=True)
    config = build_config(load_file(LAB / "callback-blocked.toml"))
    result = analyze(read_traffic([str(cut)], config), config)
    [session] = result.sessions
    assert session.steps[1].status == "failed"
    for step in session.steps[2:]:
        assert step.status == "unknown"
        assert "still open" not in step.detail
        assert ("with no FIN, RST or CONNECT_CLOSE on the control connection in the capture, "
                "which holds one direction of it only, so a close may be missing from it: "
                "whether the job stopped") in step.detail


def test_the_flow_step_of_a_tls_one_direction_capture_says_only_what_it_holds() -> None:
    """field48-matrix/two-tls-jobs-dual-stack-one-direction-out (the media server's
    packets only, the control connections in TLS): S2's step 5, unknown after its data
    SYNs resent until 445 ms before the end, said "with the control connection still open,
    no FIN, RST or CONNECT_CLOSE on it" of a connection whose agent side and NDMP messages
    the capture cannot show (final61b; verify.flow_cut)."""
    folder = LAB.parent / "field48-matrix"
    name = "two-tls-jobs-dual-stack-one-direction-out"
    config = build_config(load_file(folder / f"{name}.toml"))
    result = analyze(read_traffic([str(folder / f"{name}.pcap.gz")], config), config)
    [flow] = [s.steps[4] for s in result.sessions if s.id == "S2"]
    assert flow.status == "unknown"
    assert "still open" not in flow.detail
    assert ("(frame 473) with no FIN or RST on the control connection in the capture, which "
            "holds one direction of it only and has its NDMP messages in TLS from frame 131 "
            "on, so a close may be missing from it: whether that SYN") in flow.detail
