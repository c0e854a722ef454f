"""Stored captures cut right after each NDMP request, before its reply (editcap -r): what
the kept part cannot show is `unknown` with `capture_ended_early` naming the event, never
a failure (contract: a step fails only on evidence from the capture).

A cut of a passing job is inconclusive, or pass when everything it needs is already in;
a cut of a failing job before its first evidence (a retransmitted SYN, a RST, an error
reply) is not a failure either.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from tshark_tcp import tcp_fields

from flowcheck.cli.main import run as cli
from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
# Passing jobs: each profile, backup and restore, NDMP v2 and v4, several resources.
PASSING = ["lab/clean-3-resources", "lab/restore-2-resources", "lab/browse-only",
           "ndmjob/v4-backup", "ndmjob/v2-backup"]


@dataclass(frozen=True)
class Frame:
    """A frame as the tshark run the count tests share dissects it (tshark_tcp): each
    field's values, one per occurrence."""

    number: int
    flags: tuple[int, ...]  # tcp.flags
    retransmission: bool  # tcp.analysis.retransmission
    types: tuple[int, ...]  # ndmp.msg_type: 0 request, 1 reply
    codes: tuple[int, ...]  # ndmp.msg
    errors: tuple[int, ...]  # ndmp.error (a reply's header error, then its body's)


def _resent_syn(frame: Frame) -> bool:  # tcp.flags.syn==1 && tcp.analysis.retransmission
    return frame.retransmission and any(f & 0x02 for f in frame.flags)


def _reset(frame: Frame) -> bool:  # tcp.flags.reset==1
    return any(f & 0x04 for f in frame.flags)


def _error_reply(frame: Frame) -> bool:  # ndmp.msg_type==1 && ndmp.error!=0
    # `!=` is "all not equal" since Wireshark 3.6 (`a != b` is `!(a == b)`).
    return 1 in frame.types and bool(frame.errors) and 0 not in frame.errors


def _request(*codes: int) -> Callable[[Frame], bool]:
    """ndmp.msg_type==0 [&& (ndmp.msg==CODE || ...)]: a request, of one of `codes`."""
    return lambda frame: 0 in frame.types and (not codes or bool(set(codes) & set(frame.codes)))


def _message(*codes: int) -> Callable[[Frame], bool]:
    """ndmp.msg==CODE || ...: a message of one of `codes`."""
    return lambda frame: bool(set(codes) & set(frame.codes))


# Failing jobs and the test of their first evidence of failure (as a tshark filter).
FAILING = {
    "lab/data-port-dropped": _resent_syn,
    "lab/callback-blocked": _resent_syn,
    "ndmjob/v4-backup-media-firewall-drop": _resent_syn,
    "lab/data-port-in-use": _reset,
    "ndmjob/v4-swap-refused": _error_reply,
}


def _paths(name: str) -> tuple[Path, Path]:
    capture = CAPTURES / f"{name}.pcap"
    config = capture.with_suffix(".toml")
    return capture, config if config.is_file() else capture.parent / "flowcheck.toml"


_FIELDS = ["tcp.flags", "tcp.analysis.retransmission", "ndmp.msg_type", "ndmp.msg",
           "ndmp.error"]


def _frames(capture: Path, wanted: Callable[[Frame], bool]) -> list[int]:
    """The numbers of the frames `wanted` takes, as `tshark -Y FILTER` gives them: from
    the tshark run the count tests share (tshark_tcp.tcp_fields), not a start of
    tshark's own (about 0.3 s of CPU each, 20 here). The same frames as `tshark -r
    CAPTURE -Y FILTER` with each filter on each capture here (checked when this
    replaced it: the captures are whole, and out-of-order reassembly and X11, which the
    shared run sets otherwise, change none of these fields in them)."""
    frames = []
    for number, line in enumerate(tcp_fields(capture, _FIELDS)
                                  .splitlines(), start=1):
        flags, resent, types, codes, errors = (
            [int(v, 0) for v in column.split(",") if v] for column in line.split("\t"))
        frame = Frame(number, tuple(flags), bool(resent), tuple(types), tuple(codes),
                      tuple(errors))
        if wanted(frame):
            frames.append(number)
    return frames


def _cut(capture: Path, last: int, tmp_path: Path) -> Path:
    out = tmp_path / f"{capture.stem}-1-{last}.pcap"
    subprocess.run(["editcap", "-r", str(capture), str(out), f"1-{last}"], check=True,
                   capture_output=True)
    return out


def _analyze(capture: Path, config_path: Path) -> Analysis:
    config = build_config(load_file(config_path))
    return analyze(read_traffic([str(capture)], config), config)


def _requests(name: str) -> list[tuple[str, int]]:
    """(name, frame) of each frame holding an NDMP request (`-Y ndmp.msg_type==0`), from
    the tshark run the count tests share: read while collecting, in every xdist worker,
    where a tshark start of its own per capture was two seconds of each worker's start."""
    capture, _ = _paths(name)
    types = tcp_fields(capture, ["ndmp.msg_type"]).splitlines()
    return [(name, frame) for frame, value in enumerate(types, start=1)
            if "0" in value.split(",")]


@pytest.mark.parametrize(("name", "frame"), [
    case for name in PASSING for case in _requests(name)])
def test_passing_job_cut_after_a_request_is_never_a_failure(tmp_path: Path, name: str,
                                                            frame: int) -> None:
    capture, config = _paths(name)
    analysis = _analyze(_cut(capture, frame, tmp_path), config)
    assert [f.code for f in analysis.findings if str(f.severity) == "error"] == []
    assert analysis.verdict in ("pass", "inconclusive")
    if analysis.verdict == "inconclusive":  # a warning says what could not be seen
        assert "capture_ended_early" in {f.code for f in analysis.findings}
        unknown = [s for session in analysis.sessions for s in session.steps
                   if s.status == "unknown"]
        assert unknown and all(s.detail.startswith("unknown: ") for s in unknown)


@pytest.mark.parametrize("name", list(FAILING))
def test_failing_job_cut_before_its_evidence_is_not_a_failure(tmp_path: Path,
                                                               name: str) -> None:
    capture, config = _paths(name)
    evidence = _frames(capture, FAILING[name])[0]
    for frame in [f for f in _frames(capture, _request()) if f < evidence]:
        analysis = _analyze(_cut(capture, frame, tmp_path), config)
        assert analysis.verdict == "inconclusive", frame
    assert _analyze(_cut(capture, evidence, tmp_path), config).verdict == "fail"


@pytest.mark.parametrize(("name", "op", "code", "first_unknown"), [
    ("lab/clean-3-resources", "DATA_LISTEN", 0x409, 3),  # backup-exec-9: its reply announces
    ("ndmjob/v4-backup", "DATA_CONNECT", 0x40A, 3),  # ndmp: the request announces itself
])
def test_cut_before_the_reply_names_the_request(tmp_path: Path, name: str, op: str,
                                                code: int, first_unknown: int) -> None:
    """The capture stopped right after the request: no step_missing; capture_ended_early
    names the request's frame and the capture time after it, the steps from the one it
    decides on are unknown (exit 5)."""
    capture, config = _paths(name)
    frame = _frames(capture, _request(code))[0]
    cut = _cut(capture, frame, tmp_path)
    analysis = _analyze(cut, config)
    assert "step_missing" not in {f.code for f in analysis.findings}
    early = [f.message for f in analysis.findings if f.code == "capture_ended_early"]
    assert any(op in m and f"(frame {frame})" in m and "ended right after" in m
               for m in early), early
    steps = analysis.sessions[0].steps
    assert {s.status for s in steps if s.step < first_unknown} == {"ok"}
    assert {s.status for s in steps if s.step >= first_unknown} == {"unknown"}
    assert analysis.verdict == "inconclusive"
    assert cli(["analyze", "--config", str(config), str(cut)]) == 5


@pytest.mark.parametrize("name", ["lab/clean-3-resources", "lab/restore-2-resources",
                                  "ndmjob/v4-backup"])
def test_job_still_running_when_the_capture_stopped_is_said(tmp_path: Path, name: str) -> None:
    """Cut after the job started and before its halt, its control connection still open:
    the steps judge what the capture holds (the verdict does not change), and a
    capture_ended_early warning says the job was still running, so its later resources
    are not covered. It passed with nothing said (a new-user trial: 100 of 644 packets,
    one resource of three seen)."""
    capture, config = _paths(name)
    [start] = _frames(capture, _request(0x401, 0x402))[:1]
    [halt] = _frames(capture, _message(0x501, 0x504))[:1]  # NOTIFY_*_HALTED
    whole = _analyze(capture, config)
    assert not [f for f in whole.findings if "still running" in f.message]
    cut = _analyze(_cut(capture, (start + halt) // 2, tmp_path), config)
    [running] = [f for f in cut.findings if "still running" in f.message]
    assert running.code == "capture_ended_early" and str(running.severity) == "warning"
    assert running.frames[0] == start and "is not in the capture" in running.message
    early = _analyze(_cut(capture, start - 1, tmp_path), config)  # before the job started
    assert not [f for f in early.findings if "still running" in f.message]


def test_job_cut_in_a_later_resource_is_still_running(tmp_path: Path) -> None:
    """Cut inside the second resource of clean-3-resources, after the first one halted:
    the job is still running all the same (it passed with nothing said: the first
    resource's halt counted for the whole job; a new-user trial, 313 of 604 packets)."""
    capture, config = _paths("lab/clean-3-resources")
    starts = _frames(capture, _request(0x401))  # DATA_START_BACKUP
    halts = _frames(capture, _message(0x501))  # NOTIFY_DATA_HALTED
    assert len(starts) == 3 and halts[0] < starts[1] < halts[1]
    cut = _analyze(_cut(capture, (starts[1] + halts[1]) // 2, tmp_path), config)
    [running] = [f for f in cut.findings if "still running" in f.message]
    assert running.frames[0] == starts[1]
    assert f"(frame {starts[1]}) started its resource 2" in running.message
    # What the capture holds worked, but resource 3 of the 3 configured is after its
    # end, the control connection still open: steps 4 and 5 unknown (trial 32).
    assert cut.verdict == "inconclusive"
    assert "stopped during resource 2 of 3" in running.message
    done = _analyze(_cut(capture, (halts[1] + starts[2]) // 2, tmp_path), config)
    assert not [f for f in done.findings if "still running" in f.message]


@pytest.mark.parametrize("name", ["lab/clean-3-resources", "lab/restore-2-resources",
                                  "ndmjob/v4-backup"])
def test_job_cut_after_its_data_connection_closed_is_not_still_running(
        tmp_path: Path, name: str) -> None:
    """Cut after the data connection's FIN each way and before the halt: the capture
    shows the transfer ended, so capture_ended_early says so and not "still running"
    (newuser55: `editcap -r captures/ndmjob/v4-backup.pcap c.pcap 1-2140`)."""
    capture, config = _paths(name)
    [start] = _frames(capture, _request(0x401, 0x402))[:1]
    [halt] = _frames(capture, _message(0x501, 0x504))[:1]
    fins = [f for f in _frames(capture, lambda frame: any(v & 0x01 for v in frame.flags))
            if start < f < halt]
    assert len(fins) == 2, fins
    cut = _analyze(_cut(capture, halt - 1, tmp_path), config)
    [ended] = [f for f in cut.findings
               if f.code == "capture_ended_early" and f.frames[0] == start]
    assert "still running" not in ended.message
    assert "halt was reported" in ended.message
    assert f"closed (a FIN each way, frames {fins[0]}, {fins[1]})" in ended.message
    assert "no NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED" in ended.message
    # One account: the halt leads what is not in the capture, no "What the job did after
    # that" beside the close (review 56b).
    assert "What the job did after that" not in ended.message
    assert ". The halt and " in ended.message


def test_job_cut_after_a_resent_fin_is_not_a_fin_each_way(tmp_path: Path) -> None:
    """Cut after the data's sender's FIN, its FIN sent again 0.3 s later (editcap -t,
    mergecap: a retransmission, tshark's [TCP Retransmission]) and no FIN of the
    receiver: two FIN frames, both one side's (review56b: words56 said "a FIN each way,
    frames 2138, 2139")."""
    capture, config = _paths("ndmjob/v4-backup")
    start = _frames(capture, _request(0x401, 0x402))[0]
    halt = _frames(capture, _message(0x501, 0x504))[0]
    fin = next(f for f in _frames(capture, lambda frame: any(v & 0x01 for v in frame.flags))
               if start < f < halt)
    alone, resent, both = (tmp_path / name for name in ("fin.pcap", "resent.pcap",
                                                        "both.pcap"))
    for argv in (["editcap", "-r", str(capture), str(alone), str(fin)],
                 ["editcap", "-t", "0.3", str(alone), str(resent)],
                 ["mergecap", "-F", "pcap", "-w", str(both), str(_cut(capture, fin, tmp_path)),
                  str(resent)]):
        subprocess.run(argv, check=True, capture_output=True)
    [ended] = [f for f in _analyze(both, config).findings
               if f.code == "capture_ended_early" and f.frames[0] == start]
    assert "a FIN each way" not in ended.message
    assert f"closed (a FIN from 10.77.0.2, frames {fin}, {fin + 1})" in ended.message
