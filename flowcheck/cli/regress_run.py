"""The body of `flowcheck regress` (stored captures against their reviewed expected
results), without typer: flowcheck.cli.regress declares its options for typer and calls
run_regress, and the command line's own parsing (flowcheck.cli.direct_regress) calls it
without typer.

Light to import: the standard library and flowcheck's light modules; the cases, the
pipeline and the reports are loaded when it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from flowcheck.cli.settings import OutputFormat
from flowcheck.errors import UsageError

if TYPE_CHECKING:
    from flowcheck.regress import CaseResult


def run_regress(paths: list[str] | None = None, update: bool = False,
                junit: Path | None = None,
                output: OutputFormat = OutputFormat.table) -> int:
    """Judge the stored cases under `paths` (None: ./captures) against their expected
    results (`update`: rewrite them), a line each and the totals; `junit` a JUnit XML
    file (`-`: standard output, the lines then on standard error), `output` json the run
    as one document on standard output (docs/json.md). The exit code: 0 every case as
    expected, 1 expectations changed (flowcheck.regress.exit_status).

    Raises UsageError (exit 2) for `--junit -` with json, or a JUnit file that cannot
    be written; FlowcheckError for a path missing or no capture found (exit 3)."""
    as_json = output is OutputFormat.json
    to_stdout = junit is not None and str(junit) == "-"
    if as_json and to_stdout:
        raise UsageError("--junit - and --format json both write to standard output: "
                         "give --junit a file")
    done: list[CaseResult] = []
    try:
        # From the command's first line: Ctrl-C or SIGTERM (a CI job cancelled, its
        # timeout: cli/app.py raises KeyboardInterrupt for both) while it loads its modules
        # or finds its cases still writes the reports, an empty run (trial 34, D6).
        from flowcheck.cli.output import make_console
        from flowcheck.regress import exit_status, find_cases, run_cases
        from flowcheck.report.regress import (
            configuration_line,
            configuration_summary,
            render_result,
            render_summary,
        )

        if junit is not None and not to_stdout:
            from flowcheck.report.regress import check_junit_target

            check_junit_target(junit)  # exit 2 now, not after every case has run
        cases = find_cases(paths or ["captures"])
        # With the JUnit or JSON on standard output, the lines go to standard error: a CI
        # log still shows progress, and `> report.xml` holds XML alone.
        console = make_console(stderr=to_stdout or as_json)

        def each(result: CaseResult) -> None:
            done.append(result)
            render_result(result, console)
            if result.updated and result.error is None and result.case.config_path is None:
                # Recorded with flowcheck's defaults: said after its case line, how to
                # record the job's own settings (docs/cli.md); the others are counted.
                sys.stdout.flush()
                print(configuration_line(result.case), file=sys.stderr, flush=True)

        run_cases(cases, update=update, each=each)
        written = configuration_summary([r.case for r in done
                                         if r.updated and r.error is None])
        if written:
            sys.stdout.flush()
            print(written, file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        # The cases judged so far still reach the reports; exit 130.
        _write_junit(done, junit, interrupted=True)
        if as_json:
            _write_document(done, interrupted=True)
        raise
    render_summary(done, console)
    _write_junit(done, junit)
    if as_json:
        _write_document(done, interrupted=False)
    return exit_status(done)


def _write_document(done: list[CaseResult], *, interrupted: bool) -> None:
    """The run as one JSON document on standard output (docs/json.md)."""
    from flowcheck.cli.output import report_output
    from flowcheck.report.json_doc import write_json
    from flowcheck.report.regress import regress_document

    with report_output():  # a reader that left (`| head`) keeps the run's exit code
        write_json(regress_document(done, interrupted=interrupted), sys.stdout)


def _write_junit(done: list[CaseResult], junit: Path | None, *,
                 interrupted: bool = False) -> None:
    """The JUnit XML of `done` to the file `junit`, or standard output for `-`; an
    `interrupted` run says so in it."""
    from flowcheck.cli.output import report_output
    from flowcheck.report.regress import write_junit

    if junit is None:
        return
    if str(junit) != "-":
        write_junit(done, junit, interrupted=interrupted)
        return
    with report_output():  # a reader that left (`| head`) keeps the run's exit code
        sys.stdout.flush()
        write_junit(done, sys.stdout.buffer, interrupted=interrupted)
