"""`flowcheck regress`'s common command lines, run without typer (flowcheck.cli.direct):
paths (none starting with `-`), at most one `--update`, one `--format json|table` and
one `--junit FILE` (`-`: standard output), as `--name VALUE`. Anything else (help,
`--name=VALUE`, an option given twice: click keeps the last one, a value typer would
read otherwise) is left to typer, whose words, exit codes and help stay the only ones
(tests/test_cli_direct_regress.py runs both on the same command lines).

typer and its validators (pydantic) were a third of a `flowcheck regress` start on a
small case (session 54), the command CI jobs and the tests run again and again.

Light, as cli.direct: the standard library and flowcheck's light modules only.
"""

from __future__ import annotations

from collections.abc import Callable

from flowcheck.cli.direct_flags import output_path

FORMATS = ("json", "table")


def regress_call(words: list[str]) -> Callable[[], int] | None:
    """`flowcheck regress`'s body ready to run, when `words` (the command line after
    `regress`) are only what the module's docstring lists; else None, for typer."""
    from flowcheck.cli.settings import OutputFormat

    paths: list[str] = []
    given: dict[str, object] = {}
    rest = iter(words)
    for word in rest:
        if word == "--update" and "update" not in given:
            given["update"] = True
        elif word == "--format" and "output" not in given:
            value = next(rest, None)
            if value not in FORMATS:
                return None
            given["output"] = OutputFormat(value)
        elif word == "--junit" and "junit" not in given:
            value = next(rest, None)
            # A FILE option as typer passes it (not a directory, readable if it
            # exists), or `-`, standard output (output_path).
            junit = output_path(value)
            if junit is None:
                return None
            given["junit"] = junit
        elif word.startswith("-"):
            return None
        else:
            paths.append(word)

    def call() -> int:
        from flowcheck.cli import regress_run

        return regress_run.run_regress(paths or None, **given)  # type: ignore[arg-type]

    return call
