"""Where flowcheck's documentation is, for the output that points to it.

The report, findings and errors point to a page of the documentation ("set the job's
profile and ranges with flags or a flowcheck.toml (docs/configuration.md)"). A pip
install shipped none of docs/ (newuser56): pyproject.toml now installs the pages in
PREFIX/share/doc/flowcheck (setuptools data-files), and doc_page names the page where it
is: the installed copy when there is one, else the source checkout's docs/ (the
`pip install -e` or PYTHONPATH run of a developer), as a path relative to the working
directory when under it ("docs/formats.md" from the checkout's root), else absolute.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

INSTALLED = Path("share", "doc", "flowcheck")  # under sys.prefix (pyproject data-files)
_CHECKOUT = Path(__file__).resolve().parent.parent / "docs"


def doc_dir() -> Path | None:
    """The folder holding the documentation's pages: the source checkout's docs/ when
    flowcheck runs from one, else the installed PREFIX/share/doc/flowcheck; None when
    neither is there (a copy of the package alone)."""
    for folder in (_CHECKOUT, Path(sys.prefix) / INSTALLED):
        if (folder / "cli.md").is_file():
            return folder
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
