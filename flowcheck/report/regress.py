"""Outputs of `flowcheck regress`: the terminal summary, JUnit XML, expected files."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from flowcheck import __version__
from flowcheck.doc_files import doc_page
from flowcheck.errors import UsageError
from flowcheck.printable import printable_name, printable_text

if TYPE_CHECKING:
    from rich.console import Console


# What these outputs read of flowcheck.regress.CaseResult, as protocols: the report
# stage never imports flowcheck.regress, which imports it (imports go one way).
class _Case(Protocol):
    @property
    def capture(self) -> Path: ...
    @property
    def expected_path(self) -> Path: ...
    @property
    def config_path(self) -> Path | None: ...


class _SessionChange(Protocol):
    @property
    def line(self) -> str: ...
    @property
    def session(self) -> str | None: ...
    @property
    def expected_index(self) -> int | None: ...
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
    bytes that are not UTF-8 or control characters are escaped (flowcheck/printable.py), as
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
    if result.changed and result.expected is None:
        console.print(f"    {update_hint(result)}", highlight=False, markup=False,
                      soft_wrap=True)


def update_hint(result: CaseOutcome) -> str:
    """How to write the expected result a case lacks (`no expected result`, a new case)
    or cannot read: `regress --update` with the capture as the user types it, as the
    pytest plugin's failure says (newuser54: a new case was CHANGED, exit 1, with no
    word of --update)."""
    import shlex

    text = str(shown_path(result.case.capture))
    if text.startswith("-"):
        text = f"./{text}"  # not an option to flowcheck
    command = f"flowcheck regress --update {shlex.quote(printable_name(text))}"
    if result.changes[:1] == ["no expected result"]:
        return f"to record one from this run: {command} (then review it)"
    return f"to rewrite it from this run: {command} (then review the diff)"


def configuration_line(case: _Case) -> str:
    """The configuration an expected result `regress --update` wrote was judged with:
    its file, or that it had none, so the result records flowcheck's defaults (new-user
    trial: a capture without a sidecar was recorded under the backup-exec-9 profile
    without a word); the command writes it on standard error for a case with none only
    (configuration_summary counts the rest). Stated, not refused: the
    defaults are a configuration of their own (a case of how flowcheck reads a capture
    with none), the next run compares under the same ones, and an empty NAME.toml would
    say no more than this line does."""
    from flowcheck.config import Config, format_ranges

    name = printable_name(str(shown_path(case.capture)))
    if case.config_path is not None:
        return (f"{name}: recorded with the configuration "
                f"{printable_name(str(shown_path(case.config_path)))}")
    defaults = Config()
    stem = case.expected_path.name.removesuffix(".expected.json")
    return (f"{name}: recorded with flowcheck's defaults (profile {defaults.profile}, media "
            f"and agent ranges {format_ranges(defaults.media_range)}): no configuration "
            f"file ({stem}.toml beside it, or a flowcheck.toml: {doc_page('cli.md')}, regress); to "
            f"record the job's settings, write {stem}.toml and run --update again")


def configuration_summary(cases: list[_Case]) -> str:
    """The one line `regress --update` writes on standard error after the cases when it
    wrote expected results: how many, and the configurations they were judged with
    ("configuration of the 3 expected results written: 2 with their NAME.toml, 1 with a
    flowcheck.toml"); "" when it wrote none. A case recorded with flowcheck's defaults
    has its own line too (configuration_line): that one asks for a NAME.toml."""
    if not cases:
        return ""
    shared = sum(c.config_path is not None and c.config_path.name == "flowcheck.toml"
                 for c in cases)
    defaults = sum(c.config_path is None for c in cases)
    counts = ((len(cases) - shared - defaults, "their NAME.toml", "its NAME.toml"),
              (shared, "a flowcheck.toml", "a flowcheck.toml"),
              (defaults, "flowcheck's defaults (named above)",
               "flowcheck's defaults (named above)"))
    parts = [f"{n} with {many if n > 1 else one}" for n, many, one in counts if n]
    return (f"configuration of the {len(cases)} expected result"
            f"{'s' if len(cases) > 1 else ''} written: " + ", ".join(parts))


def readable_changes(result: CaseOutcome) -> list[str]:
    """The changes as a person reads them (readable_lines)."""
    return readable_lines(result.changes, result.session_changes, result.expected,
                          result.actual)


def readable_lines(changes: list[str], session_changes: list[_SessionChange],
                   expected: dict | None, actual: dict) -> list[str]:
    """The changes as a reviewer reads them: the verdict first (`verdict: pass -> fail`),
    then the findings as deltas (`findings: +range_too_small 2, -ranges_overlap 1,
    port_reused_within_hold 6 -> 7`), then `sessions: expected [...], got [...]`
    (thousands of characters on a night of 20 jobs) as counts and one indented line per
    differing session (`  S10 (10.77.0.1 -> 10.77.1.4, started ...): step 3 ok ->
    failed`), then the other keys (`connections: 12 -> 13`). A value of an unexpected
    type stays as `KEY: expected X, got Y` (JSON); lines that name no key stay as they
    are."""
    first, middle, last = [], [], []
    for change in changes:
        key = change.split(": ", 1)[0]
        if key not in (expected or {}) and key not in actual:
            middle.append(change)  # `no expected result`, `expected result unreadable: ...`
            continue
        old, new = (expected or {}).get(key), actual.get(key)
        if key == "verdict":
            first.insert(0, _scalar_change(key, old, new) or change)
        elif key == "findings":
            deltas = finding_changes(old, new)
            first.append("findings: " + ", ".join(_delta_text(d) for d in deltas)
                         if deltas else change)
        elif key == "sessions" and session_changes:
            middle.append(_sessions_count(session_changes, expected, actual))
            middle.extend(f"  {item.line}" for item in session_changes)
        else:
            last.append(_scalar_change(key, old, new) or change)
    return first + middle + last


def _sessions_count(session_changes: list[_SessionChange], expected: dict | None,
                    actual: dict) -> str:
    """`sessions: 1 of 20 changed`, or with sessions added or lost `sessions: 1 new, 4
    unchanged (expected 4, got 5)`."""
    got = len(actual.get("sessions") or [])
    listed = (expected or {}).get("sessions")
    wanted = len(listed) if isinstance(listed, list) else 0
    new = sum(item.expected_index is None for item in session_changes)
    missing = sum(item.session is None for item in session_changes)
    changed = len(session_changes) - new - missing
    counts = f" (expected {wanted}, got {got})" if wanted != got else ""
    if not new and not missing:
        return f"sessions: {changed} of {max(got, wanted)} changed{counts}"
    parts = [f"{n} {what}" for n, what in ((changed, "changed"), (new, "new"),
                                           (missing, "missing")) if n]
    unchanged = got - changed - new
    return (f"sessions: {', '.join(parts)}"
            + (f", {unchanged} unchanged" if unchanged else "") + counts)


def _scalar_change(key: str, old: object, new: object) -> str | None:
    """`KEY: OLD -> NEW` for two strings or two integers; None for other values."""
    for kind in (str, int):
        if (isinstance(old, kind) and isinstance(new, kind)
                and not isinstance(old, bool) and not isinstance(new, bool)):
            return f"{key}: {old} -> {new}"
    return None


def finding_changes(old: object, new: object) -> list[dict]:
    """The finding codes whose count differs, by code: `{"code", "expected", "got"}`
    (0 where a side lacks the code); [] unless both are objects of integer counts."""
    if not _counts(old) or not _counts(new):
        return []
    assert isinstance(old, dict) and isinstance(new, dict)
    return [{"code": code, "expected": old.get(code, 0), "got": new.get(code, 0)}
            for code in sorted(set(old) | set(new)) if old.get(code, 0) != new.get(code, 0)]


def _counts(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(count, int) and not isinstance(count, bool) for count in value.values())


def _delta_text(delta: dict) -> str:
    """`+code N` (new), `-code N` (gone), `code N -> M`."""
    if not delta["expected"]:
        return f"+{delta['code']} {delta['got']}"
    if not delta["got"]:
        return f"-{delta['code']} {delta['expected']}"
    return f"{delta['code']} {delta['expected']} -> {delta['got']}"


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
        "finding_changes": finding_changes((r.expected or {}).get("findings"),
                                           r.actual.get("findings"))
        if r.error is None and r.expected is not None else [],
        "seconds": round(r.seconds, 3),
    } for r in results]
    totals: dict[str, int | float] = {"cases": len(cases)}
    totals.update((status, sum(c["status"] == status for c in cases)) for status in STATUSES)
    totals["seconds"] = round(sum(r.seconds for r in results), 3)
    return {"flowcheck": __version__, "cases": cases, "totals": totals,
            "interrupted": interrupted}


def write_junit(results: list[CaseOutcome], target: Path | BinaryIO, *,
                interrupted: bool = False) -> None:
    """JUnit XML: a failure per changed case (its message the first change), an error per
    case that could not be judged, each testcase's `time` in seconds and the testsuite's
    their sum (the Ant JUnit schema Jenkins and GitLab read), each case named as the
    pytest plugin names it (junit_names); an interrupted run ends with an error test
    case saying so (a CI that publishes the report shows it red, not N passed),
    to the file `target` (its directory made when missing: a CI job's reports/ folder)
    or a binary stream (standard output for `--junit -`)."""
    errors = sum(r.error is not None for r in results) + interrupted
    suite = ET.Element("testsuite", name="flowcheck-regress",
                       tests=str(len(results) + interrupted),
                       failures=str(sum(r.changed for r in results)), errors=str(errors),
                       time=_seconds(sum(r.seconds for r in results)))
    for result in results:
        classname, name = junit_names(result.case)
        case = ET.SubElement(suite, "testcase", classname=classname, name=name,
                             time=_seconds(result.seconds))
        if result.error is not None:
            error = ET.SubElement(case, "error", message="could not be judged" if not
                                  result.actual else "expected result not written")
            error.text = printable_text(result.error)
        elif result.changed:
            # The readable lines first (a CI page shows the top), then the changes as
            # --format json gives them.
            readable = readable_changes(result)
            failure = ET.SubElement(case, "failure",
                                    message=printable_text(_first_change(readable)))
            failure.text = printable_text("\n".join(
                readable + ([""] + result.changes if readable != result.changes else [])))
    if interrupted:
        case = ET.SubElement(suite, "testcase", classname="flowcheck-regress",
                             name="interrupted", time=_seconds(0))
        ET.SubElement(case, "error", message="interrupted").text = (
            f"The run was interrupted (Ctrl-C or SIGTERM) after {len(results)} case(s): "
            "the cases not judged are not in this report.")
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


def junit_names(case: _Case) -> tuple[str, str]:
    """A case's JUnit classname and name, as the pytest plugin's --junitxml gives them
    (docs/pytest-plugin.md), so that a CI's test history survives a move between the
    two: the expected result's path as the lines name it, without `.expected.json`, `/`
    read as `.` (`captures.lab.data-port-dropped`), and the capture's name
    (`data-port-dropped.pcap`); escaped as the lines are (printable_name)."""
    stem = str(shown_path(case.expected_path)).removesuffix(".expected.json")
    classname = stem.lstrip("/").replace("/", ".")
    return printable_name(classname), printable_name(case.capture.name)


def _first_change(readable: list[str]) -> str:
    """A failure's message: its first change (`verdict: pass -> fail`; for sessions the
    count and the first session's line), `(and N more)` when there are more."""
    if not readable:
        return "expected result changed"
    first = readable[0]
    rest = [line for line in readable[1:] if not line.startswith("  ")]
    if len(readable) > 1 and readable[1].startswith("  "):
        first += "; " + readable[1].strip()
    return first + (f" (and {len(rest)} more)" if rest else "")


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
