"""Where flowcheck's documentation is, for `flowcheck docs` and the output that points to it.

The report, findings and errors point to a page of the documentation ("set the job's
profile and ranges with flags or a flowcheck.toml ('flowcheck docs configuration')").
The pointer is the command that shows the page, the same words wherever flowcheck is
installed: a path made the same capture's JSON differ per install location (review56e).
A pip install shipped none of docs/ (newuser56): pyproject.toml installs the pages in
PREFIX/share/doc/flowcheck (setuptools data-files), and `flowcheck docs` reads them
where they are: the source checkout's docs/ when flowcheck runs from one (the
`pip install -e` or PYTHONPATH run of a developer), else the installed copy, found by
the distribution's own file list, so wherever pip put it: PREFIX is sys.prefix in a
virtual environment, but `pip install --user`, `--prefix` and Debian's system Python
(sys.prefix /usr, pip's scheme /usr/local) put the pages elsewhere (review56e).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

INSTALLED = Path("share", "doc", "flowcheck")  # under sys.prefix (pyproject data-files)
# The pages by name, as `flowcheck docs --help` and docs/cli.md list them (pages() finds
# them; tests/test_cli_docs checks the two agree).
PAGE_NAMES = ("cli", "configuration", "findings", "formats", "json", "lab", "profiles",
              "pytest-plugin", "readme")
_CHECKOUT = Path(__file__).resolve().parent.parent / "docs"


@functools.cache
def doc_dir() -> Path | None:
    """The folder holding the documentation's pages: the source checkout's docs/ when
    flowcheck runs from one, else the installed copy (where the installed distribution's
    file list says, else sys.prefix's share/doc/flowcheck); None when none is there (a
    copy of the package alone). Found once a process."""
    checkout = _CHECKOUT if _in_checkout(_CHECKOUT) else None
    for folder in (checkout, _recorded(), Path(sys.prefix) / INSTALLED):
        if folder is not None and (folder / "cli.md").is_file():
            return folder
    return None


def _in_checkout(folder: Path) -> bool:
    """Is `folder` (docs/ beside the package) flowcheck's source checkout's, its
    pyproject.toml naming flowcheck beside it? An installed flowcheck's is
    site-packages/docs, where another distribution may have put a docs/cli.md of its own
    (review58b: one such file was listed as flowcheck's only page)."""
    try:
        project = (folder.parent / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return 'name = "flowcheck"' in project


def _recorded() -> Path | None:
    """The folder of cli.md as the installed distribution's file list (the wheel's
    RECORD) names it, resolved where pip installed it (``../../../share/doc/flowcheck``
    from site-packages: ~/.local/share/doc/flowcheck after --user); None when flowcheck
    is not installed or its list holds no such page (an egg-info's SOURCES.txt names
    docs/cli.md of the checkout, not an installed copy)."""
    # Imported here: some 25 ms, paid only by `flowcheck docs` (every command that reads
    # traffic imports this module for doc_page, which no longer needs it: review58b).
    import importlib.metadata

    try:
        files = importlib.metadata.distribution("flowcheck").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "cli.md" and file.parent.name == INSTALLED.name \
                and file.parent.parent.name == INSTALLED.parent.name:
            return Path(file.locate()).resolve().parent
    return None


def doc_page(name: str, section: str = "") -> str:
    """The pointer the output gives to the page `name` ("configuration.md"), or to its
    section headed `section` ("data_unanswered" of "findings.md"): the command that
    shows it, "'flowcheck docs configuration'", "'flowcheck docs findings
    data_unanswered'". The same words wherever flowcheck is
    installed: a finding's message in the JSON is part of the contract (contract.md,
    "JSON"), and a path there made one capture's JSON differ between two installs
    (review56e)."""
    return f"'flowcheck docs {' '.join(filter(None, (page_name(name), section)))}'"


def page_name(name: str) -> str:
    """A page's name as `flowcheck docs` takes it: "formats.md" -> "formats"."""
    return name.removesuffix(".md")


def pages() -> dict[str, Path]:
    """Every page of the documentation by name ("cli", "formats", ..., "readme"), in
    name order: the folder's *.md files (a folder or a dangling link of that name is no
    page); empty when no copy of the documentation is there (doc_dir None). Raises
    OSError when the folder cannot be listed (Path.glob gave nothing then, so every page
    read as unknown: review58b)."""
    folder = doc_dir()
    if folder is None:
        return {}
    # The installed copy holds README.md beside the pages; the checkout's is above docs/.
    found = {page_name(path.name): path for path in folder.iterdir()
             if path.suffix == ".md" and path.name != "README.md" and path.is_file()}
    readme = folder.parent / "README.md" if folder == _CHECKOUT else folder / "README.md"
    if readme.is_file():
        found["readme"] = readme
    return dict(sorted(found.items()))


def shown_path(path: Path) -> str:
    """`path` as a path to show: relative to the working directory when under it
    ("docs/formats.md" from the checkout's root), else absolute (also when the working
    directory is gone: os.getcwd raises FileNotFoundError, review58b)."""
    try:
        relative = os.path.relpath(path)
    except (ValueError, OSError):  # another drive (Windows); no working directory
        return str(path)
    return str(path) if relative.startswith("..") else relative


def headings(text: str) -> list[tuple[int, str, int]]:
    """Every Markdown heading of a page as (level, name, line index): level 1 for "#",
    name the heading's text without its hashes and backticks ("data_unanswered" of
    "### `data_unanswered`"); lines inside a fenced block (```) are not headings (a
    shell comment in an example is not a section)."""
    found: list[tuple[int, str, int]] = []
    fenced = False
    for index, line in enumerate(text.splitlines()):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            hashes = len(line) - len(line.lstrip("#"))
            if line[hashes:hashes + 1] == " ":
                found.append((hashes, line[hashes:].strip().replace("`", ""), index))
    return found


def sections(text: str, name: str) -> list[str]:
    """The sections of a page whose heading reads `name` (case aside; "data_unanswered"
    finds "### `data_unanswered`"), each from its heading to the next heading of its
    level or above, in page order (a code documented in two groups, such as
    `port_outside_media_range`, gives two); [] when no heading reads so."""
    lines = text.splitlines(keepends=True)
    marks = headings(text)
    wanted = name.strip().replace("`", "").lower()
    found = []
    for place, (level, heading, start) in enumerate(marks):
        if heading.lower() != wanted:
            continue
        end = next((index for deeper, _, index in marks[place + 1:] if deeper <= level),
                   len(lines))
        found.append("".join(lines[start:end]).rstrip("\n") + "\n")
    return found
