"""`flowcheck docs`: the documentation's pages, or one section of one, wherever pip
installed them.

The output points to a page by this command ("'flowcheck docs formats'",
flowcheck.doc_files.doc_page): the same words in every install, and a page a user can
open without knowing where pip put share/doc/flowcheck.
No `from __future__ import annotations` here: typer reads annotations at run time.
"""

import difflib
import sys
from pathlib import Path
from typing import Annotated

import typer

from flowcheck.cli.helptext import command_settings
from flowcheck.cli.output import report_output
from flowcheck.doc_files import PAGE_NAMES
from flowcheck.errors import ExitStatus, InputError, UsageError
from flowcheck.printable import printable_name


def docs(page: Annotated[str | None, typer.Argument(
             metavar="PAGE", show_default=False,
             help=f"The page to show ({', '.join(PAGE_NAMES)}); none: the list of "
                  "pages.")] = None,
         section: Annotated[str | None, typer.Argument(
             metavar="SECTION", show_default=False,
             help="Only the page's section(s) of this heading: a finding's code "
                  "('flowcheck docs findings data_unanswered'; a code alone in place "
                  "of PAGE reads as that).")] = None,
         path: Annotated[bool, typer.Option(
             "--path", help="Print the page's file path (no PAGE: the folder) instead of "
                            "its text.")] = False) -> int:
    """Show a page of flowcheck's documentation, or one section of it (the output points
    to them this way)."""
    from flowcheck.doc_files import doc_dir, page_name, pages, shown_path

    try:
        found = pages()
    except OSError as exc:
        raise InputError(f"{_named(doc_dir())}: the documentation's pages cannot be "
                         f"listed: {exc.strerror or exc}") from None
    if not found:
        raise InputError("no copy of flowcheck's documentation is installed with this "
                         "flowcheck (a copy of the package alone): its pages are in the "
                         "source's docs/ folder")
    name = None if page is None else page_name(page.lower())
    chosen = None if name is None else found.get(name)
    if page is not None and chosen is None and section is None and "findings" in found \
            and _code_shaped(page):
        name, section = "findings", page  # `flowcheck docs data_unanswered`
        chosen = found[name]
    if page is not None and chosen is None:
        raise UsageError(f"no page {page!r}: the pages are {', '.join(found)}")
    if section is not None and path:
        raise UsageError("--path names a page's file, not a section: give PAGE alone")
    text = None if chosen is None or path else _text(chosen)
    if text is not None and section is not None:
        text = _section(text, section, name or "")
    with report_output():  # `flowcheck docs findings | head`: the reader may leave
        if text is not None:
            _show(text)
        elif chosen is not None:
            print(printable_name(shown_path(chosen)))
        elif path:
            print(printable_name(shown_path(doc_dir())))  # type: ignore[arg-type]
        else:
            width = max(map(len, found))
            for name, file in found.items():
                print(f"{name:<{width}}  {_title(file)}")
    return ExitStatus.OK


def _code_shaped(name: str) -> bool:
    """Does `name` read as a finding's code (snake_case, "data_unanswered"), not as a
    mistyped page name ("firewall" stays "no page")?"""
    return "_" in name and name.replace("_", "").isalnum() and name.islower()


def _section(text: str, name: str, page: str) -> str:
    """The page's section(s) headed `name`, joined by a blank line; UsageError (exit 2)
    naming up to three headings that read close to it when none is headed so."""
    from flowcheck.doc_files import headings, sections

    found = sections(text, name)
    if found:
        return "\n".join(found)
    names = list(dict.fromkeys(heading for _, heading, _ in headings(text)))
    close = difflib.get_close_matches(name.replace("`", ""), names, n=3, cutoff=0.6)
    hint = (f": did you mean {' or '.join(close)}?" if close
            else f": 'flowcheck docs {page}' lists its sections under its headings")
    raise UsageError(f"no section {name!r} in the page {page}{hint}")


def _show(text: str) -> None:
    """Write a page or section to standard output; through the user's pager ($PAGER,
    else less) when standard output is a terminal and the text is longer than it (the
    findings page is some 7,500 lines: newuser61), written whole when it is a pipe or a
    file. The standard library's pager (pydoc.pager: $MANPAGER, $PAGER, less, more),
    not click's: typer no longer installs click (newuser62: `import click` made every
    command of a fresh install a traceback)."""
    rows = _terminal_rows()
    if rows and text.count("\n") >= rows:
        import pydoc

        pydoc.pager(text)
    else:
        sys.stdout.write(text)


def _terminal_rows() -> int:
    """The terminal's height in lines when standard output is one (24 when it does not
    tell: a pseudo-terminal made without a size), else 0."""
    import os

    try:
        if not sys.stdout.isatty():
            return 0
        return os.get_terminal_size(sys.stdout.fileno()).lines or 24
    except (OSError, ValueError):
        return 0


def _named(folder: Path | None) -> str:
    """A folder or page as an error line names it (printable: a name that is not UTF-8)."""
    from flowcheck.doc_files import shown_path

    return printable_name(shown_path(folder)) if folder is not None else "docs"


def _text(page: Path) -> str:
    """The page's text; InputError (exit 3, as any input flowcheck cannot read) when it
    cannot be read or is not UTF-8 (a damaged copy: review58b, both were an internal
    error, exit 4)."""
    try:
        return page.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{_named(page)}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{_named(page)}: not UTF-8 text (byte {exc.start:,}): a damaged "
                         "copy of the page; install flowcheck again") from None


def _title(page: Path) -> str:
    """The page's first heading, without its hashes ("" when it has none; a byte that is
    not UTF-8 as U+FFFD, and "(cannot be read: REASON)" for a page that cannot be
    read: the list goes on, `flowcheck docs PAGE` says what is wrong with it)."""
    try:
        with page.open(encoding="utf-8", errors="replace") as text:
            for line in text:
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    except OSError as exc:
        return f"(cannot be read: {exc.strerror or exc})"
    return ""


def register(app: typer.Typer) -> None:
    app.command(**command_settings("docs"))(docs)
