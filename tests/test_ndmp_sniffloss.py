"""A hole the sniffer left in a control connection: decoding resumes at the next record
start it can prove, says what it skipped, and the finding names its session (trial 14 D4:
every multi-fragment message after the hole was lost silently)."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.ndmp.findings import StreamFindings
from flowcheck.ndmp.stream_events import DecodeProblem
from flowcheck.pipeline import analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-sniffloss"


def _analyse(name: str):
    config = build_config(load_file(CAPTURES / f"{name}.toml"))
    return analyze(read_traffic([str(CAPTURES / f"{name}.pcap.gz")], config), config)


def test_file_history_after_a_hole_is_decoded_and_the_skip_told() -> None:
    analysis = _analyse("fh-hole-mid-media")
    messages = [m for s in analysis.traffic.streams for m in s.messages]
    assert len(messages) == 35
    assert sum(m.name == "NDMP_FH_ADD_FILE" and not m.partial for m in messages) == 10
    partial = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert len(partial) == 1 and partial[0].session == "S1" and partial[0].uid == "C1"
    assert "25,356 B were the rest of the messages a hole broke" in partial[0].message
    assert [f.session for f in analysis.findings if f.code == "capture_loss"] == ["S1"]


def test_multi_fragment_start_backup_after_a_hole_keeps_the_failure() -> None:
    analysis = _analyse("v2-env100-hole-media")
    names = [m.name for s in analysis.traffic.streams for m in s.messages]
    assert "NDMP_DATA_START_BACKUP" in names
    assert analysis.verdict == "fail"
    # The lost CONNECT_CLIENT_AUTH request (the agent's reply names it) hides no halt:
    # the close is judged, as on the complete capture (flowcheck.verify.hidden_ends).
    [closed] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert closed.code == "control_closed"
    assert "It closed the data connection" in " ".join(closed.message.split())
    assert "unannounced_connection" not in {f.code for f in analysis.findings}


def test_bytes_skipped_before_a_proven_start_are_counted_in_ndmp_partial() -> None:
    findings = StreamFindings("C1")
    findings.problem("resp", DecodeProblem("cut", "1,448 B never captured", [31], 1.0,
                                           missing=1448))
    findings.problem("resp", DecodeProblem("skipped", "unproven", [32], 1.0, skipped=2552))
    findings.problem("orig", DecodeProblem("cut", "48 B never captured", [9], 0.5,
                                           missing=48))
    _, [built] = findings.build()  # one finding for both directions (trial 25 D11)
    originator, responder = built.message.split("From the responder")
    assert "2,552 B were skipped before a record start could be proven" in responder
    assert "skipped" not in originator
