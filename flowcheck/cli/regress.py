"""`flowcheck regress`: its options declared for typer (its --help, and any command line
flowcheck.cli.direct leaves to typer); the body is flowcheck.cli.regress_run, which the
common command lines reach without typer (flowcheck.cli.direct_regress)."""

from pathlib import Path
from typing import Annotated

import typer

from flowcheck.cli import regress_run
from flowcheck.cli.helptext import command_settings
from flowcheck.cli.options import Format, OutputFormat


def regress(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="DIR|FILE",
        help="Captures or directories of captures [default: ./captures].")] = None,
    update: Annotated[bool, typer.Option(
        "--update", help="Write the expected results from this run: a new case's, a changed "
                         "one's (review the diff).")]
    = False,
    junit: Annotated[Path | None, typer.Option(
        "--junit", metavar="FILE", dir_okay=False,
        help="Write a JUnit XML report ('-': to standard output, the lines to standard "
             "error).")] = None,
    output: Format = OutputFormat.table,
) -> int:
    """Analyze each stored capture with its configuration (NAME.toml beside it, else a
    ring directory's own flowcheck.toml, else flowcheck.toml in its folder, else the
    defaults) and compare with NAME.expected.json. A new case has no expected result
    (CHANGED, exit 1) until --update writes one."""
    return regress_run.run_regress(paths, update, junit, output)


def register(app: typer.Typer) -> None:
    app.command(**command_settings("regress"))(regress)
