"""The errors flowcheck finds in a stored capture judged with its sidecar configuration."""

from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path

from pcap_records import read_records, write_records
from run_shared import run_shared

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding, Session
from flowcheck.pipeline import Analysis, Traffic, analyze, read_traffic
from flowcheck.regress import Case, find_cases
from flowcheck.report.json_doc import analysis_document

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


@functools.cache
def stored_cases() -> tuple[Case, ...]:
    """Every stored case (find_cases over captures/), walked once a process: three test
    modules (test_finding_fields, test_regress, test_report_session_status) walked the
    tree at import, about 0.35 CPU-s each in every pytest-xdist worker (each collects
    every module). Read only: the cases are the tests' parameters."""
    return tuple(find_cases([str(CAPTURES)]))


def failed_errors(config_path: Path, *captures: Path) -> list[Finding]:
    """The error findings of `captures` (one capture set) analyzed with the configuration
    file `config_path`; asserts the verdict is fail."""
    config = build_config(load_file(config_path))
    analysis = analyze(read_traffic([str(c) for c in captures], config), config)
    assert analysis.verdict == "fail"
    return [f for f in analysis.findings if str(f.severity) == "error"]


def sidecar(capture: Path) -> Path:
    """The configuration stored beside a capture: NAME.toml for NAME.pcap(.gz)/.pcapng."""
    name = capture.name.removesuffix(".gz").rsplit(".", 1)[0]
    return capture.with_name(f"{name}.toml")


def stored_analysis(*captures: Path, config_path: Path | None = None,
                    **settings: object) -> Analysis:
    """`captures` (one capture set) analysed with the first one's sidecar configuration
    (or `config_path`), `settings` overriding its values."""
    config = build_config({**load_file(config_path or sidecar(captures[0])), **settings})
    return analyze(read_traffic([str(c) for c in captures], config), config)


def shared_analysis(capture: Path) -> Analysis:
    """stored_analysis(capture) of a stored case (one file under captures/ with its
    NAME.toml sidecar, as flowcheck.regress.find_cases pairs them): the run's one
    analysis of it (case_analysis), which the tests walking every stored capture
    (test_finding_fields, test_report_session_status, test_verify_unexplained) make
    anyway. Read only, as case_analysis says."""
    config = sidecar(capture)
    assert config.is_file(), f"{capture}: no sidecar; stored_analysis reads it"
    return case_analysis(capture, config)


def case_config(folder: Path, name: str) -> Path:
    """A stored case's configuration: FOLDER/NAME.toml, else the folder's flowcheck.toml."""
    own = folder / f"{name}.toml"
    return own if own.is_file() else folder / "flowcheck.toml"


def without_frame(tmp_path: Path, folder: Path, name: str, frame: int) -> Path:
    """FOLDER/NAME.pcap (or .pcap.gz) with its frame `frame` (1-based) removed, as the
    sniffer would have lost it, written under tmp_path."""
    capture = next(p for p in folder.iterdir()
                   if p.name in (f"{name}.pcap", f"{name}.pcap.gz"))
    linktype, records = read_records(capture)
    return write_records(tmp_path / f"{name}-without-{frame}.pcap", linktype,
                         records[:frame - 1] + records[frame:])


def folder_analysis(folder: Path, name: str, config_name: str = "flowcheck") -> Analysis:
    """The capture `name` of a stored folder (a field check's: captures/trial38-stack)
    analysed with the folder's configuration, flowcheck.toml or `config_name`.toml."""
    return stored_analysis(folder / name, config_path=folder / f"{config_name}.toml")


def errors(analysis: Analysis) -> list[Finding]:
    """The analysis' error findings, in their order."""
    return [f for f in analysis.findings if str(f.severity) == "error"]


def case_analysis(capture: Path, config_path: Path | None) -> Analysis:
    """A stored case's capture (one file or a ring directory) analysed with the
    configuration file `config_path` (None: the defaults): one analysis per pytest
    run (tests/run_shared.py), the same object to every test of a worker that asks
    (test_report_session_status, test_finding_fields and test_verify_unexplained each
    analysed every stored capture with its own configuration). No test may change it:
    each call checks that its JSON document is still the one it had when made (also
    what a worker that read another's pickle checks), so a test that changed it fails
    the next one to ask (AssertionError)."""
    analysis, made, _ = _case_analysis(capture, config_path)
    assert _fingerprint(analysis) == made, f"{capture}: a test changed the shared analysis"
    return analysis


def case_traffic(capture: Path, config_path: Path | None) -> Traffic:
    """The traffic case_analysis read from the case's capture, as read_traffic gave it
    (before analyze set each connection's role and session): a new copy each call, the
    caller's to change (test_finding_fields labels it for the `connections` document:
    it read the capture a second time, about half its CPU)."""
    return pickle.loads(_case_analysis(capture, config_path)[2])


@run_shared  # one analysis a run, whichever worker asks first
def _case_analysis(capture: Path, config_path: Path | None) -> tuple[Analysis, str, bytes]:
    config = build_config(load_file(config_path) if config_path else {})
    traffic = read_traffic([str(capture)], config)
    read = pickle.dumps(traffic, protocol=pickle.HIGHEST_PROTOCOL)  # before analyze's labels
    analysis = analyze(traffic, config)
    return analysis, _fingerprint(analysis), read


def default_traffic(capture: Path) -> Traffic:
    """read_traffic([capture], build_config({})) of a stored capture file (the defaults:
    what `analyze CAPTURE` without --config reads): one read a run (tests/run_shared.py),
    a new copy each call, the caller's to change (analyze labels it).
    test_ndmp_tshark and test_report_json_text each read every stored capture so."""
    return pickle.loads(_default_traffic(capture.resolve()))  # one key for each file


@run_shared  # one read a run, whichever worker asks first
def _default_traffic(capture: Path) -> bytes:
    assert capture.is_relative_to(CAPTURES), capture  # a generated file changes under its name
    return pickle.dumps(read_traffic([str(capture)], build_config({})),
                        protocol=pickle.HIGHEST_PROTOCOL)


def _fingerprint(analysis: Analysis) -> str:
    """The analysis' JSON document as text (its sessions, steps, findings, connections;
    about 0.2 ms a capture)."""
    return json.dumps(analysis_document(analysis), sort_keys=True, default=str)


def stopped_at_failed_callback(analysis: Analysis) -> Session:
    """Assert `analysis` fails on its one session's callback alone (callback_unanswered,
    step 2 failed) with steps 3-5 not reached, as a whole capture reads it; return that
    session."""
    assert analysis.verdict == "fail"
    assert {f.code for f in analysis.findings if f.severity == "error"} == {
        "callback_unanswered"}
    [session] = analysis.sessions
    steps = {step.step: step for step in session.steps}
    assert steps[2].status == "failed"
    for number in (3, 4, 5):
        assert steps[number].status == "not_applicable", steps[number].detail
        assert steps[number].detail == "not reached: the job stopped after step 2 failed"
    return session
