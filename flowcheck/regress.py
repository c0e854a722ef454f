"""Regression checks: each stored capture against its reviewed expected result.

The cases and the files beside them (docs/cli.md, "regress"): flowcheck.regress_cases.
`NAME.expected.json` is the reviewed summary of a case's analysis: verdict, finding
codes with counts, and per session its kind, step statuses and data connection count.
`--update` rewrites the summaries (Zeek's btest baselines: by a flag, never by hand),
and the diff is reviewed.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import field
from pathlib import Path

from flowcheck.errors import ExitStatus, FlowcheckError, InputError
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.regress_cases import (
    CAPTURE_SUFFIXES,
    Case,
    capture_stem,
    capture_suffix,
    case_for_expected,
    find_cases,
    holds_one_ring,
    is_capture_file,
    is_ring,
    rename_hint,
)
from flowcheck.regress_diff import SeenSession, SessionChange, seen_sessions, session_changes
from flowcheck.regress_expected import shape_problems

# The cases' names, importable from here as before (the CLI, the pytest plugin, tests).
__all__ = ["CAPTURE_SUFFIXES", "Case", "CaseResult", "capture_stem",
           "capture_suffix", "case_for_expected", "case_problem", "compare", "exit_status",
           "find_cases", "holds_one_ring", "is_capture_file", "is_ring", "judge",
           "missing_capture", "NOT_COMPARED", "read_expected", "reviewed",
           "run_cases", "shared_expectation", "summarize"]


@fields_dataclass(slots=True)
class CaseResult:
    case: Case
    actual: dict
    expected: dict | None
    changes: list[str] = field(default_factory=list)
    updated: bool = False
    # Why the case could not be judged (its capture or configuration unusable, or an
    # expected result without its capture), and that error's exit code.
    error: str | None = None
    error_status: ExitStatus | None = None
    seconds: float = 0.0  # wall time the case took (JUnit's testcase time)
    # The differing sessions one by one, named as this run names them (flowcheck.
    # regress_diff), when `sessions` is among the changes.
    session_changes: list[SessionChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes) and not self.updated and self.error is None


def read_expected(path: Path) -> dict:
    """The reviewed summary in `NAME.expected.json` (a JSON object, see summarize()).

    Raises InputError, one line naming the file, when it cannot be read, is not a JSON
    object (a hand edit gone wrong, a merge conflict left in it) or not one of an
    expected result's shape (flowcheck.regress_expected: unknown, missing or mistyped
    keys)."""
    try:
        expected = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text, not an expected result") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} "
                         f"column {exc.colno})") from None
    if not isinstance(expected, dict):
        raise InputError(f"{path}: not an expected result (a JSON object)")
    problems = shape_problems(expected)  # a misspelled key, a wrong type (trial 21 D9)
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))
    return expected


def summarize(document: dict) -> dict:
    """The reviewed part of an analysis: stable across runs, independent of timing."""
    profile = document["config"]["profile"]
    return {
        "verdict": document["verdict"],
        "findings": dict(sorted(Counter(f["code"] for f in document["findings"]).items())),
        "sessions": [
            {
                "kind": s["kind"],
                "steps": {str(step["step"]): step["status"] for step in s["steps"]},
                "data_connections": len(s["data_connections"]),
                "callback": s["callback_uid"] is not None,
                # The profile that judged it, when not the run's: a capture set of two
                # kinds of job (flowcheck.mixed_reading); absent otherwise.
                **({"profile": s["profile"]} if s.get("profile", profile) != profile
                   else {}),
            }
            for s in document["sessions"]
        ],
        "connections": len(document["connections"]),
        "ndmp_messages": sum(len(stream["messages"]) for stream in document["ndmp"]),
    }


# Keys of an expected result that record how it was written, not what was reviewed:
# `--update` writes them, comparing skips them (a file without them compares the same).
NOT_COMPARED = ("flowcheck_version",)


def reviewed(expected: dict) -> dict:
    """The reviewed summary of an expected result: without the keys NOT_COMPARED."""
    return {key: value for key, value in expected.items() if key not in NOT_COMPARED}


def compare(expected: dict, actual: dict) -> list[str]:
    """One line per key of the summary that differs, `KEY: expected X, got Y` (JSON
    values), keys sorted; the keys NOT_COMPARED are skipped."""
    changes = []
    expected = reviewed(expected)
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key) != actual.get(key):
            changes.append(f"{key}: expected {json.dumps(expected.get(key))}, "
                           f"got {json.dumps(actual.get(key))}")
    return changes


# Findings that say the stored capture itself is damaged (a cut download, a partial Git
# LFS object): read in part, the case's analysis tells nothing of flowcheck's.
DAMAGE_CODES = ("capture_truncated", "capture_unreadable")


def damage(document: dict) -> dict[str, str]:
    """The damage findings of an analysis document: code -> its first message."""
    found: dict[str, str] = {}
    for finding in document["findings"]:
        if finding["code"] in DAMAGE_CODES:
            found.setdefault(finding["code"], finding["message"])
    return found


def _analyzed(case: Case) -> tuple[dict, list[SeenSession], dict[str, str]]:
    """The case's summary (summarize()), its sessions' ids, hosts and error codes
    (flowcheck.regress_diff.SeenSession: not part of the summary), and the damage
    findings of its capture (damage())."""
    from flowcheck.pipeline import analyze, read_traffic
    from flowcheck.report.json_doc import analysis_document

    config = case.config()
    document = analysis_document(analyze(read_traffic([str(case.capture)], config), config))
    return summarize(document), seen_sessions(document), damage(document)


def run_cases(cases: list[Case], *, update: bool = False,
              each: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    """Judge each case; `each` is called with each result as it is known (a CI log shows
    progress). A case whose capture or configuration cannot be used is an error result,
    and the other cases are still judged."""
    results = []
    owners: dict[Path, Path] = {}  # expected result -> the capture judged against it
    for case in cases:
        started = time.perf_counter()
        try:
            owner = owners.setdefault(case.expected_path, case.capture)
            if owner != case.capture:
                raise shared_expectation(case, owner)
            result = _run_one(case, update)
        except (FlowcheckError, OSError) as exc:
            status = exc.exit_status if isinstance(exc, FlowcheckError) else ExitStatus.INPUT
            message = str(exc) if isinstance(exc, FlowcheckError) else \
                f"{exc.filename or case.capture}: {exc.strerror or exc}"
            result = CaseResult(case, {}, None, error=message, error_status=ExitStatus(status))
        if result.error is not None:
            result.error = reason_alone(named_as_shown(result.error), case.capture)
        result.seconds = time.perf_counter() - started
        results.append(result)
        if each is not None:
            each(result)
    return results


def named_as_shown(message: str) -> str:
    """`message` with each file under the working directory named relative to it, as the
    case lines and `path` name the case (a CI runner's checkout path, `/builds/group/
    project/`, filled every error line); a file elsewhere keeps its absolute path."""
    here = os.path.join(os.getcwd(), "")
    return re.sub(r"(?<![\w./-])" + re.escape(here), "", message)


def reason_alone(message: str, capture: Path) -> str:
    """An error case's `message` without the capture's own name in front: the reader's
    errors name their file (`x.pcap: empty file`, as `analyze` prints them), and the
    case line already has (trial 34 D8: `ERROR x.pcap: x.pcap: empty file`). A message
    naming another file (its NAME.toml, a ring's part) keeps it."""
    for name in (named_as_shown(str(capture)), str(capture)):
        if message.startswith(f"{name}: "):
            return message[len(name) + 2:]
    return message


def judge(case: Case) -> CaseResult:
    """One case analysed and compared with its expected result, as `flowcheck regress`
    and the pytest plugin both judge it: `expected` None when the file is missing (its
    one change "no expected result": a capture stored cut on purpose) or unreadable (its
    one change "expected result unreadable: ..."). InputError when the case has no
    capture, or its capture is damaged and the expected result does not record it."""
    actual, seen, damaged = _judged(case)
    expected = None
    if not case.expected_path.is_file():
        return CaseResult(case, actual, None, ["no expected result"])
    # A broken expected result is a broken case, not the end of the run: the other
    # cases are still judged and `--update` rewrites it like a changed one.
    try:
        expected = read_expected(case.expected_path)
        changes = compare(expected, actual)
    except InputError as exc:
        changes = [f"expected result unreadable: {named_as_shown(str(exc))}"]
    _refuse_damage(case, damaged, expected)
    result = CaseResult(case, actual, expected, changes)
    if expected is not None and changes:
        result.session_changes = session_changes(reviewed(expected), actual, seen)
    return result


def _run_one(case: Case, update: bool) -> CaseResult:
    """One case judged (judge()), its expected result rewritten with `update`."""
    from flowcheck.report.regress import write_expected

    result = judge(case)
    if update and result.changes:
        try:
            write_expected(case.expected_path, result.actual)
        except OSError as exc:  # judged, and changed: its file cannot be rewritten
            result.error = (f"{case.expected_path}: cannot write the expected result "
                            f"({exc.strerror or exc})")
            # An output that cannot be written is exit 2, as every command's (`--junit`,
            # `--html`, `live --write`); 3 is an input that cannot be read (contract).
            result.error_status = ExitStatus.USAGE
            return result
        result.updated = True
    return result


def _refuse_damage(case: Case, damaged: dict[str, str], expected: dict | None) -> None:
    """InputError when the capture is damaged (damage()) and its expected result does not
    record that damage (a capture stored cut on purpose does): an error, never a change
    `--update` would accept (trial 21 D4: a cut .pcap.gz read as `verdict pass`)."""
    recorded = (expected or {}).get("findings")
    new = [code for code in damaged if not (isinstance(recorded, dict) and code in recorded)]
    if new:
        # The case's line names the capture already.
        said = damaged[new[0]].removeprefix(f"{case.capture}: ")
        raise InputError(
            f"the stored capture is damaged: {said} ({new[0]}); restore it from "
            f"the original (stored so on purpose: remove {case.expected_path.name} and run "
            "--update to record it)")


def _judged(case: Case) -> tuple[dict, list[SeenSession], dict[str, str]]:
    """_analyzed, or InputError when the case has no capture (its expected result
    alone, a path given that is not there, a dangling link)."""
    problem = case_problem(case)
    if problem is not None:
        raise problem
    return _analyzed(case)


def case_problem(case: Case) -> InputError | None:
    """Why a case cannot be judged before its capture is read: its problem (a path given
    that is not there, an orphaned `NAME.toml`, a folder without captures), else its
    missing capture (missing_capture); None when its capture is there. judge() asks it for
    regress and the pytest plugin alike."""
    if case.problem is not None and not case.capture.is_symlink():
        return InputError(case.problem)
    return missing_capture(case)


def missing_capture(case: Case) -> InputError | None:
    """Why a case has no capture to judge (its expected result alone: the capture deleted,
    or a link whose content was never fetched); None when its capture is there."""
    if case.capture.exists():
        return None
    if case.capture.is_symlink():
        return InputError(f"{case.capture}: a link to a file that is not there "
                          "(git-annex: git annex get)")
    return InputError(f"{case.expected_path}: no capture beside it (deleted, or never "
                      f"checked out{rename_hint(case.capture)})")


def shared_expectation(case: Case, owner: Path) -> InputError:
    """The error of a case whose expected result is already `owner`'s (`x.pcap.gz` beside
    `x.pcap`: both are `x.expected.json`)."""
    return InputError(f"{case.expected_path.name} is the expected result of "
                      f"{owner.name} too: give each capture its own name")


def exit_status(results: list[CaseResult]) -> ExitStatus:
    """The run's exit code (docs/cli.md): a case that could not be judged gives its
    error's code (a bad configuration or an expected result `--update` cannot write 2,
    an unreadable capture 3; the lowest of them), else 1 when any expected result
    changed, else 0."""
    errors = [r.error_status for r in results if r.error_status is not None]
    if errors:
        return ExitStatus(min(errors))
    return ExitStatus.FAIL if any(r.changed for r in results) else ExitStatus.OK
