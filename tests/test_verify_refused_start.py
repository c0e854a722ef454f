"""A refused request that would have used the data connection makes that connection's
close before any data its consequence: one root cause, one error (docs/findings.md).

Trial 11 D5 (captures/ndmjob-refused/v4-badbutype-media.pcap): ndmjob -B dump against an
agent that knows only tar; the data connection opened (DATA_CONNECT, frames 15-17),
DATA_START_BACKUP was answered ILLEGAL_ARGS_ERR (frame 20), the DMA closed the unused data
connection (FIN, frame 38). Before, `data_aborted` ("closed ... the job was cancelled, or
an error on its side") came first, beside the `ndmp_error_reply`.

A data connection closed before any data with no such refusal stays `data_aborted`
(tests/test_verify_data_closed_unused.py, tests/test_verify_data_aborted.py).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

REFUSED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-refused"


def _analyze(name: str) -> Analysis:
    config = build_config(load_file(REFUSED / f"{name}.toml"))
    return analyze(read_traffic([str(REFUSED / f"{name}.pcap")], config), config)


def test_refused_start_backup_is_the_one_error() -> None:
    analysis = _analyze("v4-badbutype-media")
    errors = [f for f in analysis.findings if str(f.severity) == "error"]
    assert analysis.verdict == "fail"
    assert [(f.code, f.frames) for f in errors] == [("ndmp_error_reply", [20])], \
        [f.code for f in analysis.findings]
    assert "DATA_START_BACKUP was answered ILLEGAL_ARGS_ERR" in errors[0].message


def test_the_data_step_names_the_refusal() -> None:
    [session] = _analyze("v4-badbutype-media").sessions
    step = next(s for s in session.steps if s.name == "backup or restore data flows")
    assert step.status == "failed"
    assert "closed by 10.77.0.1 (FIN, frame 38) before any data, after DATA_START_BACKUP " \
           "was answered ILLEGAL_ARGS_ERR (frame 20)" in step.detail
