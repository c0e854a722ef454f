"""The documentation the output points to is installed with the package (newuser56: "set
the job's profile and ranges with flags or a flowcheck.toml (docs/configuration.md)",
connections' "docs/formats.md" and regress's "docs/cli.md" named files a pip install did
not ship). A wheel built from the tree, installed into a fresh virtual environment (the
system's packages visible for the dependencies, --no-deps): the report run from another
folder names configuration.md by a path that exists, and the wheel holds every page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "captures" / "lab" / "clean-3-resources.pcap"


def test_a_pip_install_ships_the_docs_the_report_points_to(tmp_path: Path) -> None:
    tree = tmp_path / "tree"  # setuptools builds in the tree: not in the checkout
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    for name in ("flowcheck", "docs"):
        shutil.copytree(ROOT / name, tree / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path / "wheel"), str(tree)], check=True, capture_output=True)
    [wheel] = (tmp_path / "wheel").glob("flowcheck-*.whl")
    shipped = {Path(name).name for name in zipfile.ZipFile(wheel).namelist()
               if "/share/doc/flowcheck/" in name}
    assert shipped >= {path.name for path in (ROOT / "docs").glob("*.md")} | {"README.md"}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"  # not under the venv: the path is absolute
    elsewhere.mkdir()
    done = subprocess.run([venv / "bin" / "flowcheck", "analyze", str(CAPTURE)],
                          cwd=elsewhere, capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    [page] = re.findall(r"a flowcheck\.toml\s+\((\S+configuration\.md)\)", done.stdout)
    assert Path(page).is_absolute() and Path(page).is_file(), page
    assert Path(page).is_relative_to(venv), page
