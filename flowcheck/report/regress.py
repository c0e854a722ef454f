"""Outputs of `flowcheck regress`: the terminal summary, JUnit XML, expected files."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from flowcheck import __version__
from flowcheck.errors import UsageError
from flowcheck.report.printable import printable_name, printable_text

if TYPE_CHECKING:
    from rich.console import Console


# What these outputs read of flowcheck.regress.CaseResult, as protocols: the report
# stage never imports flowcheck.regress, which imports it (imports go one way).
class _Case(Protocol):
    @property
    def capture(self) -> Path: ...
    @property
    def expected_path(self) -> Path: ...


class _SessionChange(Protocol):
    @property
    def line(self) -> str: ...
    def as_dict(self) -> dict: ...


class CaseOutcome(Protocol):
    @property
    def case(self) -> _Case: ...
    @property
    def actual(self) -> dict: ...
    @property
    def expected(self) -> dict | None: ...
    @property
    def changes(self) -> list[str]: ...
    @property
    def changed(self) -> bool: ...
    @property
    def updated(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def seconds(self) -> float: ...
    @property
    def session_changes(self) -> list[_SessionChange]: ...


def write_expected(path: Path, summary: dict) -> None:
    """`NAME.expected.json`: the summary, after `flowcheck_version`, the version that
    wrote it (for the reviewer of a diff; comparing skips it, flowcheck.regress)."""
    document = {"flowcheck_version": __version__, **summary}
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def shown_path(path: Path) -> Path:
    """A case's capture as the user would name it: relative to the working directory when
    it lies under it (cases hold absolute paths, see flowcheck.regress_cases.find_cases)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def render_result(result: CaseOutcome, console: Console) -> None:
    """One case's line (and its changes), printed as soon as it is judged. Never
    wrapped: a CI log is read by grep as much as by eye. Names and messages that hold
    bytes that are not UTF-8 or control characters are escaped (report/printable.py), as
    in the JUnit XML, and kept from rich's markup (a folder named `[/]` was a MarkupError)."""
    from rich.markup import escape  # imported here: start-up time matters

    name = escape(printable_name(str(shown_path(result.case.capture))))
    if result.error is not None:
        console.print(f"[red]ERROR[/] {name}: {escape(printable_text(result.error))}",
                      soft_wrap=True)
        return
    if result.updated:
        status = "[yellow]updated[/]"
    elif result.changed:
        status = "[red]CHANGED[/]"
    else:
        status = "[green]ok[/]"
    console.print(f"{status} {name} (verdict {result.actual['verdict']})", soft_wrap=True)
    for change in readable_changes(result) if result.changed else []:
        console.print(f"    {printable_text(change)}", highlight=False, markup=False,
                      soft_wrap=True)


def readable_changes(result: CaseOutcome) -> list[str]:
    """The changes as a person reads them (readable_lines)."""
    return readable_lines(result.changes, result.session_changes, result.expected,
                          result.actual)


def readable_lines(changes: list[str], session_changes: list[_SessionChange],
                   expected: dict | None, actual: dict) -> list[str]:
    """`sessions: expected [...], got [...]` (thousands of characters on a night of 20
    jobs) becomes a count, then one indented line per differing session (`  S10
    (10.77.0.1 -> 10.77.1.4): step 3 ok -> failed`); the other lines as they are."""
    out = []
    for change in changes:
        if change.startswith("sessions: ") and session_changes:
            got = len(actual.get("sessions") or [])
            listed = (expected or {}).get("sessions")
            wanted = len(listed) if isinstance(listed, list) else 0
            out.append(f"sessions: {len(session_changes)} of {max(got, wanted)} changed"
                       + (f" (expected {wanted}, got {got})" if wanted != got else ""))
            out.extend(f"  {item.line}" for item in session_changes)
        else:
            out.append(change)
    return out


def render_summary(results: list[CaseOutcome], console: Console) -> None:
    errors = sum(r.error is not None for r in results)
    changed = sum(r.changed for r in results)
    updated = sum(r.updated for r in results)
    summary = f"{len(results) - changed - updated - errors} unchanged, {changed} changed"
    console.print(summary + (f", {updated} updated" if updated else "")
                  + (f", {errors} could not be judged" if errors else ""))


def status_of(result: CaseOutcome) -> str:
    """`error` (could not be judged), `updated` (its expected result rewritten),
    `changed`, or `ok`."""
    if result.error is not None:
        return "error"
    if result.updated:
        return "updated"
    return "changed" if result.changed else "ok"


STATUSES = ("ok", "changed", "updated", "error")


def regress_document(results: list[CaseOutcome], *, interrupted: bool = False) -> dict:
    """`regress --format json` (docs/json.md): each case in the order judged, with its
    path as the lines show it, status, verdict, changes, error and seconds; the totals;
    and whether the run was interrupted (Ctrl-C, SIGTERM) before every case was judged."""
    cases = [{
        "path": str(shown_path(r.case.capture)),
        "expected": str(shown_path(r.case.expected_path))
        if r.error is None or os.path.lexists(r.case.expected_path) else None,
        "status": status_of(r),
        "verdict": r.actual.get("verdict"),  # {} when not judged
        "changes": list(r.changes),  # [] when not judged
        "error": r.error,
        "session_changes": [item.as_dict() for item in r.session_changes]
        if r.error is None else [],
        "seconds": round(r.seconds, 3),
    } for r in results]
    totals: dict[str, int | float] = {"cases": len(cases)}
    totals.update((status, sum(c["status"] == status for c in cases)) for status in STATUSES)
    totals["seconds"] = round(sum(r.seconds for r in results), 3)
    return {"flowcheck": __version__, "cases": cases, "totals": totals,
            "interrupted": interrupted}


def write_junit(results: list[CaseOutcome], target: Path | BinaryIO) -> None:
    """JUnit XML: a failure per changed case, an error per case that could not be judged,
    each testcase's `time` in seconds and the testsuite's their sum (the Ant JUnit schema
    Jenkins and GitLab read),
    to the file `target` (its directory made when missing: a CI job's reports/ folder)
    or a binary stream (standard output for `--junit -`)."""
    suite = ET.Element("testsuite", name="flowcheck-regress", tests=str(len(results)),
                       failures=str(sum(r.changed for r in results)),
                       errors=str(sum(r.error is not None for r in results)),
                       time=_seconds(sum(r.seconds for r in results)))
    for result in results:
        case = ET.SubElement(suite, "testcase", classname="regress",
                             name=printable_name(str(shown_path(result.case.capture))),
                             time=_seconds(result.seconds))
        if result.error is not None:
            error = ET.SubElement(case, "error", message="could not be judged" if not
                                  result.actual else "expected result not written")
            error.text = printable_text(result.error)
        elif result.changed:
            failure = ET.SubElement(case, "failure", message="expected result changed")
            # The readable lines first (a CI page shows the top), then the changes as
            # --format json gives them.
            readable = readable_changes(result)
            failure.text = printable_text("\n".join(
                readable + ([""] + result.changes if readable != result.changes else [])))
    if isinstance(target, Path):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            ET.ElementTree(suite).write(target, encoding="utf-8", xml_declaration=True)
        except OSError as exc:
            raise _cannot_write(target, exc) from None
        return
    ET.ElementTree(suite).write(target, encoding="utf-8", xml_declaration=True)
    target.write(b"\n")
    target.flush()


def check_junit_target(path: Path) -> None:
    """Before any case runs: the folder of `path` made when missing, and `path` opened
    for writing (a file this makes is removed again), so that a report path that cannot
    be written is a usage error at once, not after the whole run. UsageError naming
    `--junit` as analyze's --html does (report/files.py)."""
    existed = os.path.lexists(path)  # a dangling link: its target is made, kept
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):  # append: an earlier report stays until this one is written
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def _cannot_write(path: Path, exc: OSError) -> UsageError:
    return UsageError(f"--junit {path}: cannot write ({exc.strerror or exc})")


def _seconds(seconds: float) -> str:
    """JUnit's time attribute: seconds, to the millisecond."""
    return f"{seconds:.3f}"
