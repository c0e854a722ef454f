"""`flowcheck regress`: stored captures against their reviewed expected results."""

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from flowcheck.regress import CaseResult


def regress(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="[DIR or FILES]",
        help="Captures or directories of captures [default: ./captures].")] = None,
    update: Annotated[bool, typer.Option(
        "--update", help="Rewrite the expected results from this run (review the diff).")]
    = False,
    junit: Annotated[Path | None, typer.Option(
        "--junit", metavar="FILE", dir_okay=False,
        help="Write a JUnit XML report ('-': to standard output, the lines to standard "
             "error).")] = None,
) -> int:
    """Analyze each stored capture with its sidecar config; compare with <name>.expected.json."""
    from flowcheck.cli.output import make_console
    from flowcheck.regress import CaseResult, exit_status, find_cases, run_cases
    from flowcheck.report.regress import render_result, render_summary

    cases = find_cases(paths or ["captures"])
    to_stdout = junit is not None and str(junit) == "-"
    # With the JUnit on standard output, the lines go to standard error: a CI log still
    # shows progress, and `> report.xml` holds XML alone.
    console = make_console(stderr=to_stdout)
    done: list[CaseResult] = []

    def each(result: CaseResult) -> None:
        done.append(result)
        render_result(result, console)

    try:
        with _term_as_interrupt():
            run_cases(cases, update=update, each=each)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM (a CI job cancelled, its timeout): the cases judged so far
        # still reach the report; exit 130 for both (cli/main.py).
        _write_junit(done, junit)
        raise
    render_summary(done, console)
    _write_junit(done, junit)
    return exit_status(done)


def _write_junit(done: list["CaseResult"], junit: Path | None) -> None:
    """The JUnit XML of `done` to the file `junit`, or standard output for `-`."""
    from flowcheck.cli.output import report_output
    from flowcheck.report.regress import write_junit

    if junit is None:
        return
    if str(junit) != "-":
        write_junit(done, junit)
        return
    with report_output():  # a reader that left (`| head`) keeps the run's exit code
        sys.stdout.flush()
        write_junit(done, sys.stdout.buffer)


@contextlib.contextmanager
def _term_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as SIGINT does, while the cases run: a CI job's
    timeout (GitLab, GitHub Actions, `timeout`) sends SIGTERM, whose default ends the
    process before the JUnit of the cases judged is written."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set a handler (a script's worker thread)
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(app: typer.Typer) -> None:
    app.command(name="regress")(regress)
