"""The documentation the output points to is installed with the package (newuser56: "set
the job's profile and ranges with flags or a flowcheck.toml (docs/configuration.md)",
connections' "docs/formats.md" and regress's "docs/cli.md" named files a pip install did
not ship), and the output points to it by the command that shows it, `flowcheck docs
PAGE`, the same words in every install (review56e: a path made one capture's JSON differ
per install). A wheel built from the tree (once for the module), installed into a fresh
virtual environment (the system's packages visible for the dependencies, --no-deps,
--ignore-installed: without it pip uninstalled the flowcheck the suite runs from, the
one the system's packages hold, and every later test of the pytest plugin failed): the
report run from another folder points to configuration by `flowcheck docs`, which shows
the installed page, and the wheel holds every page; installed with --prefix, as --user
and Debian's system Python install it away from sys.prefix, `flowcheck docs` finds the
page where pip put it (review56e).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "captures" / "lab" / "clean-3-resources.pcap"
_POINTER = re.compile(r"a flowcheck\.toml\s+\('flowcheck\s+docs\s+configuration'\)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """flowcheck's wheel, built as `pip install .` builds it (build isolation)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    tree = tmp_path / "tree"  # setuptools builds in the tree: not in the checkout
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    for name in ("flowcheck", "docs"):
        shutil.copytree(ROOT / name, tree / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    # Build isolation fetches setuptools>=77 from the package index (CI has PyPI): when
    # that fails, pip's own words say why, not only "returned non-zero exit status 1".
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w",
                           str(tmp_path / "wheel"), str(tree)], check=False,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    # Nothing setuptools will stop building (review56e: `license = { text = "MIT" }`,
    # "By 2027-Feb-18 ... your builds will no longer be supported").
    assert "SetuptoolsDeprecationWarning" not in done.stdout + done.stderr
    [built] = (tmp_path / "wheel").glob("flowcheck-*.whl")
    return built


def _page(flowcheck: list[str], cwd: Path, env: dict[str, str]) -> Path:
    """The configuration page as the installed `flowcheck` run in `cwd` points to it:
    the report names `flowcheck docs configuration`, whose --path is an existing file
    by absolute path, and whose text is that file's (the checkout's page, byte for
    byte: the page installed is the page written)."""
    run = functools.partial(subprocess.run, cwd=cwd, capture_output=True, text=True,
                            check=False, env=env)
    done = run([*flowcheck, "analyze", str(CAPTURE)])
    assert done.returncode == 0, done.stderr
    assert _POINTER.search(done.stdout), done.stdout
    located = run([*flowcheck, "docs", "configuration", "--path"])
    assert located.returncode == 0, located.stderr
    page = Path(located.stdout.strip())
    assert page.is_absolute() and page.is_file(), page
    shown = run([*flowcheck, "docs", "configuration"])
    assert shown.stdout == (ROOT / "docs" / "configuration.md").read_text()
    listed = run([*flowcheck, "docs"])
    assert {line.split()[0] for line in listed.stdout.splitlines()} \
        == {path.stem for path in (ROOT / "docs").glob("*.md")} | {"readme"}
    return page


def test_a_pip_install_ships_the_docs_the_report_points_to(wheel: Path,
                                                           tmp_path: Path) -> None:
    shipped = {Path(name).name for name in zipfile.ZipFile(wheel).namelist()
               if "/share/doc/flowcheck/" in name}
    assert shipped >= {path.name for path in (ROOT / "docs").glob("*.md")} | {"README.md"}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-deps", "--ignore-installed", str(wheel)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"  # not under the venv: the path is absolute
    elsewhere.mkdir()
    page = _page([str(venv / "bin" / "flowcheck")], elsewhere, {"PATH": "/usr/bin:/bin"})
    assert page.is_relative_to(venv)
    _still_installed()


def test_an_install_away_from_sys_prefix_names_the_page_where_pip_put_it(
        wheel: Path, tmp_path: Path) -> None:
    """`pip install --prefix P` (pip install --user and Debian's /usr/bin/python3, its
    scheme /usr/local, do alike): the pages are in P/share/doc/flowcheck, not under
    sys.prefix (review56e: "(flowcheck's configuration.md)", no path)."""
    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--ignore-installed", "--prefix",
                    str(prefix), str(wheel)], check=True, capture_output=True)
    [site] = {path.parent.parent for path in prefix.rglob("flowcheck/__init__.py")}
    elsewhere = tmp_path / "elsewhere"  # not above the prefix: the path is absolute
    elsewhere.mkdir()
    page = _page([sys.executable, "-m", "flowcheck"], elsewhere,
                 {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)})
    assert page.is_relative_to(prefix / "share" / "doc" / "flowcheck")
    _still_installed()


def _still_installed() -> None:
    """The install just made left the environment the suite runs in alone: without
    --ignore-installed pip uninstalled the suite's own flowcheck from the system's
    packages, and with it the pytest plugin's entry point (a full run's later plugin
    tests all failed). Asserted after each install, whatever order the tests run in."""
    found = subprocess.run([sys.executable, "-m", "pip", "show", "flowcheck"],
                           capture_output=True, text=True, check=False)
    assert found.returncode == 0, found.stderr
