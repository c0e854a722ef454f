"""The note under an inconclusive verdict says what the findings show (field check 60's
leftovers, report.verdict_notes): a connection to a configured agent's NDMP port that
broke after its handshake leads it (run 4 read "No error found" over a warning that the
packets after the SYN never reached the agent), and the fix asked is the cause's: a job
whose only unknown steps TLS hides is not told to capture with -s 0 (run 3)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis
from flowcheck.report.verdict_notes import INCONCLUSIVE_NOTE, inconclusive_note

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _analyze(case: str) -> Analysis:
    folder, name = (CAPTURES / case).parent, (CAPTURES / case).name
    capture = next(folder.glob(f"{name}.pcap*"))
    config = build_config(load_file(folder / f"{name}.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def test_a_broken_connection_to_a_configured_agent_leads_the_note() -> None:
    """Field check 49 run 7 (field check 60 run 4's shape): two TLS-from-the-first-byte
    restores, job 2's agent 10.77.1.3 resending its SYN-ACK after the ACK; job 1 judged
    with step 3 unknown. The note no longer opens "No error found"."""
    analysis = _analyze("field49-matrix/two-tls-start-jobs-control-ack-dropped-router-out")
    assert analysis.verdict == "inconclusive"
    note = inconclusive_note(analysis)
    assert note.startswith(
        "A connection to the NDMP port of the configured agent 10.77.1.3 (C1, "
        "10.77.0.1:5059 -> 10.77.1.3:10000) broke after its handshake: the packets after the "
        "SYN never reached 10.77.1.3 (ndmp_undecodable). No job with 10.77.1.3 is judged"), note
    assert "In the sessions judged no error was found" in note, note
    assert "the control connection is in TLS (ndmp_undecodable)" in note


def test_a_stalled_connection_to_a_configured_agent_names_the_way_in_brackets() -> None:
    """Field check 50: the agent's packets after the handshake never reached the media
    server's TCP (ACKed, resent); the capture also lost packets (capture_loss), which
    hides no step: the note names TLS, not "-s 0". Printed as written: the IPv6
    endpoints keep their brackets (the note was printed as markup)."""
    analysis = _analyze("field50-matrix/two-tls-start-jobs-callback-ack-dropped-sniffer-loss")
    note = inconclusive_note(analysis)
    assert note.startswith(
        "A connection to the NDMP port of the configured agent fd77::2 (C1, "
        "[fd77::1]:5027 -> [fd77::2]:10000) broke after its handshake: fd77::2's packets "
        "never reached fd77::1's TCP (ndmp_undecodable)."), note
    assert "tcpdump -s 0" not in note
    console = Console(width=2000, record=True, color_system=None)
    render_analysis(analysis, console)
    assert "(C1, [fd77::1]:5027 -> [fd77::2]:10000) broke" in console.export_text()


def test_unknown_steps_tls_alone_hides_ask_for_no_other_capture() -> None:
    """A TLS restore captured `-Q in` (capture_one_direction): step 3 is unknown because
    of TLS only, which no capture option shows; the note said "capture the whole job,
    both directions, with tcpdump -s 0"."""
    analysis = _analyze("field47-tls-matrix/restore-tls-one-direction-in")
    assert any(f.code == "capture_one_direction" for f in analysis.findings)
    note = inconclusive_note(analysis)
    assert note != INCONCLUSIVE_NOTE and "tcpdump -s 0" not in note, note
    assert note.endswith(
        "the control connection is in TLS (ndmp_undecodable), which hides the job's NDMP "
        "messages from any capture, so the capture's own limits (capture_one_direction) "
        "are not why a step is unknown."), note


def test_an_unknown_step_the_capture_hides_still_asks_for_a_whole_capture() -> None:
    """The rule's other side: a job stopped mid-way by the capture's end (no TLS) keeps
    INCONCLUSIVE_NOTE."""
    analysis = _analyze("field49-matrix/ipv6-backup-stopped-while-running")
    assert analysis.verdict == "inconclusive"
    assert inconclusive_note(analysis) == INCONCLUSIVE_NOTE


@pytest.mark.cites_unchecked  # the same words with other cites, on purpose
def test_tls_alone_is_decided_from_the_steps_cites_not_their_words() -> None:
    """stepcodes63: whether TLS alone hides the unknown steps is read from Step.cites,
    the codes set where each detail was built, not from a pattern over the words (which
    missed "missed: capture_loss;" and "(capture_loss says why ...)"). The same words
    with other cites give the other note; the words alone decide nothing."""
    analysis = _analyze("field47-tls-matrix/restore-tls-one-direction-in")
    tls_alone = inconclusive_note(analysis)
    assert tls_alone.endswith("are not why a step is unknown."), tls_alone
    unknown = [(session, index) for session in analysis.sessions
               for index, step in enumerate(session.steps) if step.status == "unknown"]
    assert unknown
    session, index = unknown[0]
    step = session.steps[index]
    assert "(ndmp_undecodable)" in step.detail and "ndmp_undecodable" in step.cites
    try:
        # A capture limit cited beside TLS: the capture's limits may be why.
        session.steps[index] = replace(step, cites=(*step.cites, "capture_loss"))
        assert inconclusive_note(analysis) != tls_alone
        # TLS not cited, whatever the words say: not TLS's alone.
        session.steps[index] = replace(step, cites=())
        assert inconclusive_note(analysis) != tls_alone
    finally:
        session.steps[index] = step
    assert inconclusive_note(analysis) == tls_alone
