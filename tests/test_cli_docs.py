"""`flowcheck docs [PAGE] [--path]`: the pages the output points to ("'flowcheck docs
formats'"), shown wherever pip installed them (review56e: a path in a finding's message
made one capture's JSON differ per install; the pointer is now the command). The
installed copy is tested in tests/test_installed_docs.py; here the checkout's, and the
errors: an unknown page is a usage error (2), no copy of the documentation an input
error (3), each one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.cli.main import run

ROOT = Path(__file__).resolve().parent.parent
# Frame relay, a link type flowcheck does not read (tests/test_cli_unread_inputs.py).
FRELAY = ROOT / "tests" / "data" / "tcpdump-tests" / "OSPFv3_NBMA_adjacencies.pcap"
DOCS = ROOT / "docs"


def test_the_list_names_every_page_with_its_title(capsys: pytest.CaptureFixture[str]
                                                  ) -> None:
    assert run(["docs"]) == 0
    listed = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert set(listed) == {path.stem for path in DOCS.glob("*.md")} | {"readme"}
    assert listed["formats"] == (DOCS / "formats.md").read_text().splitlines()[0].lstrip("# ")


@pytest.mark.parametrize("asked", ["formats", "formats.md", "FORMATS"])
def test_a_page_is_shown_whole(asked: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["docs", asked]) == 0
    assert capsys.readouterr().out == (DOCS / "formats.md").read_text()


def test_path_names_the_file_and_the_folder(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert run(["docs", "readme", "--path"]) == 0
    assert run(["docs", "--path"]) == 0
    assert capsys.readouterr().out.splitlines() == ["README.md", "docs"]


def test_an_unknown_page_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["docs", "firewall"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("flowcheck: error: no page 'firewall': the pages are cli, "
                            "configuration, findings, formats, json, lab, profiles, "
                            "pytest-plugin, readme\n")


def test_a_reader_that_leaves_keeps_the_exit_code() -> None:
    done = subprocess.run(f"{sys.executable} -m flowcheck docs findings | head -1; "
                          "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash",
                          capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "# Findings\n", "")


def test_a_package_without_its_documentation_says_so(tmp_path: Path) -> None:
    """A copy of the package alone, in an environment of its own (sys.prefix holds no
    share/doc/flowcheck) whose distribution's file list names no page: one line, 3."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True)
    alone = tmp_path / "alone"
    shutil.copytree(ROOT / "flowcheck", alone / "flowcheck",
                    ignore=shutil.ignore_patterns("__pycache__"))
    info = alone / "flowcheck-0.1.0.dist-info"  # found before the suite's own install
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flowcheck\nVersion: 0.1.0\n")
    (info / "RECORD").write_text("flowcheck/__init__.py,,\n")
    done = subprocess.run([venv / "bin" / "python", "-m", "flowcheck", "docs"],
                          cwd=tmp_path, capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(alone)})
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr == ("flowcheck: error: no copy of flowcheck's documentation is "
                           "installed with this flowcheck (a copy of the package alone): "
                           "its pages are in the source's docs/ folder\n")


def test_a_findings_pointer_is_the_same_words_in_every_install() -> None:
    """The JSON of a capture whose link type flowcheck does not read points to formats
    by the command, not by where this checkout is."""
    done = subprocess.run([sys.executable, "-m", "flowcheck", "connections", "--format",
                           "json", str(FRELAY), str(ROOT / "captures/ndmjob/v4-backup.pcap")],
                          cwd="/", capture_output=True, text=True, check=False)
    text = json.dumps(json.loads(done.stdout)["findings"])
    assert "'flowcheck docs formats'" in text
    assert str(DOCS) not in text and "formats.md" not in text
