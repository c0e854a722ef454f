"""Outputs of `flowcheck regress`: the terminal summary, JUnit XML, expected files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console


# What these outputs read of flowcheck.regress.CaseResult, as protocols: the report
# stage never imports flowcheck.regress, which imports it (imports go one way).
class _Case(Protocol):
    @property
    def capture(self) -> Path: ...


class CaseOutcome(Protocol):
    @property
    def case(self) -> _Case: ...
    @property
    def actual(self) -> dict: ...
    @property
    def changes(self) -> list[str]: ...
    @property
    def changed(self) -> bool: ...
    @property
    def updated(self) -> bool: ...


def write_expected(path: Path, summary: dict) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def shown_path(path: Path) -> Path:
    """A case's capture as the user would name it: relative to the working directory when
    it lies under it (cases hold absolute paths, see flowcheck.regress.find_cases)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def render_results(results: list[CaseOutcome], console: Console) -> None:
    for result in results:
        if result.updated:
            status = "[yellow]updated[/]"
        elif result.changed:
            status = "[red]CHANGED[/]"
        else:
            status = "[green]ok[/]"
        console.print(f"{status} {shown_path(result.case.capture)} "
                      f"(verdict {result.actual['verdict']})")
        for change in result.changes if result.changed else []:
            console.print(f"    {change}", highlight=False)
    changed = sum(r.changed for r in results)
    updated = sum(r.updated for r in results)
    summary = f"{len(results) - changed - updated} unchanged, {changed} changed"
    console.print(summary + (f", {updated} updated" if updated else ""))


def write_junit(results: list[CaseOutcome], path: Path) -> None:
    suite = ET.Element("testsuite", name="flowcheck-regress", tests=str(len(results)),
                       failures=str(sum(r.changed for r in results)))
    for result in results:
        case = ET.SubElement(suite, "testcase", classname="regress",
                             name=str(shown_path(result.case.capture)))
        if result.changed:
            failure = ET.SubElement(case, "failure", message="expected result changed")
            failure.text = "\n".join(result.changes)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
