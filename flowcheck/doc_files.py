"""Where flowcheck's documentation is, for the output that points to it.

The report, findings and errors point to a page of the documentation ("set the job's
profile and ranges with flags or a flowcheck.toml (docs/configuration.md)"). A pip
install shipped none of docs/ (newuser56): pyproject.toml now installs the pages in
PREFIX/share/doc/flowcheck (setuptools data-files), and doc_page names the page where it
is: the source checkout's docs/ when flowcheck runs from one (the `pip install -e` or
PYTHONPATH run of a developer), else the installed copy, as a path relative to the
working directory when under it ("docs/formats.md" from the checkout's root), else
absolute. The installed copy is found by the distribution's own file list, so wherever
pip put it: PREFIX is sys.prefix in a virtual environment, but `pip install --user`,
`--prefix` and Debian's system Python (sys.prefix /usr, pip's scheme /usr/local) put
the pages elsewhere (review56e: those printed "flowcheck's configuration.md").
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import sys
from pathlib import Path

INSTALLED = Path("share", "doc", "flowcheck")  # under sys.prefix (pyproject data-files)
_CHECKOUT = Path(__file__).resolve().parent.parent / "docs"


@functools.cache
def doc_dir() -> Path | None:
    """The folder holding the documentation's pages: the source checkout's docs/ when
    flowcheck runs from one, else the installed copy (where the installed distribution's
    file list says, else sys.prefix's share/doc/flowcheck); None when none is there (a
    copy of the package alone). Found once a process."""
    for folder in (_CHECKOUT, _recorded(), Path(sys.prefix) / INSTALLED):
        if folder is not None and (folder / "cli.md").is_file():
            return folder
    return None


def _recorded() -> Path | None:
    """The folder of cli.md as the installed distribution's file list (the wheel's
    RECORD) names it, resolved where pip installed it (``../../../share/doc/flowcheck``
    from site-packages: ~/.local/share/doc/flowcheck after --user); None when flowcheck
    is not installed or its list holds no such page (an egg-info's SOURCES.txt names
    docs/cli.md of the checkout, not an installed copy)."""
    try:
        files = importlib.metadata.distribution("flowcheck").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "cli.md" and file.parent.name == INSTALLED.name \
                and file.parent.parent.name == INSTALLED.parent.name:
            return Path(file.locate()).resolve().parent
    return None


def doc_page(name: str) -> str:
    """The page `name` ("configuration.md") as a path to show: relative to the working
    directory when under it, else absolute; "flowcheck's NAME" when no copy of the
    documentation is installed."""
    folder = doc_dir()
    if folder is None:
        return f"flowcheck's {name}"
    path = folder / name
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") else relative
