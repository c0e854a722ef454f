"""`flowcheck regress`: stored captures against their reviewed expected results."""

from pathlib import Path
from typing import Annotated

import typer


def regress(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="[DIR or FILES]",
        help="Captures or directories of captures [default: ./captures].")] = None,
    update: Annotated[bool, typer.Option(
        "--update", help="Rewrite the expected results from this run (review the diff).")]
    = False,
    junit: Annotated[Path | None, typer.Option(
        "--junit", metavar="FILE", dir_okay=False, help="Write a JUnit XML report.")] = None,
) -> int:
    """Analyze each stored capture with its sidecar config; compare with <name>.expected.json."""
    from flowcheck.cli.output import make_console
    from flowcheck.regress import exit_status, find_cases, run_cases
    from flowcheck.report.regress import render_result, render_summary, write_junit

    cases = find_cases(paths or ["captures"])
    console = make_console()
    results = run_cases(cases, update=update, each=lambda r: render_result(r, console))
    render_summary(results, console)
    if junit is not None:
        write_junit(results, junit)
    return exit_status(results)


def register(app: typer.Typer) -> None:
    app.command(name="regress")(regress)
