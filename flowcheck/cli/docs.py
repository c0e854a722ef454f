"""`flowcheck docs`: the documentation's pages, wherever pip installed them.

The output points to a page by this command ("'flowcheck docs formats'",
flowcheck.doc_files.doc_page): the same words in every install, and a page a user can
open without knowing where pip put share/doc/flowcheck.
No `from __future__ import annotations` here: typer reads annotations at run time.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from flowcheck.cli.helptext import command_settings
from flowcheck.cli.output import report_output
from flowcheck.errors import ExitStatus, InputError, UsageError


def docs(page: Annotated[str | None, typer.Argument(
             metavar="PAGE", show_default=False,
             help="The page to show (cli, configuration, findings, formats, json, lab, "
                  "profiles, pytest-plugin, readme); none: the list of pages.")] = None,
         path: Annotated[bool, typer.Option(
             "--path", help="Print the page's file path (no PAGE: the folder) instead of "
                            "its text.")] = False) -> int:
    """Show a page of flowcheck's documentation (the output points to them this way)."""
    from flowcheck.doc_files import doc_dir, page_name, pages, shown_path

    found = pages()
    if not found:
        raise InputError("no copy of flowcheck's documentation is installed with this "
                         "flowcheck (a copy of the package alone): its pages are in the "
                         "source's docs/ folder")
    chosen = None if page is None else found.get(page_name(page.lower()))
    if page is not None and chosen is None:
        raise UsageError(f"no page {page!r}: the pages are {', '.join(found)}")
    with report_output():  # `flowcheck docs findings | head`: the reader may leave
        if chosen is not None:
            sys.stdout.write(shown_path(chosen) + "\n" if path
                             else chosen.read_text(encoding="utf-8"))
        elif path:
            print(shown_path(doc_dir()))  # type: ignore[arg-type] - found: not None
        else:
            width = max(map(len, found))
            for name, file in found.items():
                print(f"{name:<{width}}  {_title(file)}")
    return ExitStatus.OK


def _title(page: Path) -> str:
    """The page's first heading, without its hashes ("" when it has none)."""
    with page.open(encoding="utf-8") as text:
        for line in text:
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return ""


def register(app: typer.Typer) -> None:
    app.command(**command_settings("docs"))(docs)
