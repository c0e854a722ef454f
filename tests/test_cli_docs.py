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


@pytest.fixture
def copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed copy of the documentation (the pages and README.md in one folder,
    as pip puts them in share/doc/flowcheck), the one `flowcheck docs` reads."""
    import flowcheck.doc_files

    folder = tmp_path / "share" / "doc" / "flowcheck"
    shutil.copytree(DOCS, folder)
    shutil.copy(ROOT / "README.md", folder)
    monkeypatch.setattr(flowcheck.doc_files, "doc_dir", lambda: folder)
    return folder


def test_a_damaged_page_is_an_input_error_and_the_list_goes_on(
        copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """review58b: a page that is not UTF-8 made `docs` and `docs lab` an internal error
    (exit 4, UnicodeDecodeError), the list cut at the page before it."""
    (copy / "lab.md").write_bytes(b"# The lab\n\xff\xfe\n")
    assert run(["docs"]) == 0
    listed = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert listed["lab"] == "The lab" and "readme" in listed
    assert run(["docs", "lab"]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"flowcheck: error: {copy / 'lab.md'}: not UTF-8 text (byte "
                            "10): a damaged copy of the page; install flowcheck again\n")


def test_a_folder_or_a_dangling_link_is_no_page(copy: Path,
                                                capsys: pytest.CaptureFixture[str]
                                                ) -> None:
    """review58b: either, named *.md in the folder, was listed and read (exit 4,
    IsADirectoryError or FileNotFoundError)."""
    (copy / "notes.md").mkdir()
    (copy / "gone.md").symlink_to(copy / "nowhere.md")
    assert run(["docs"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "notes" not in listed and "gone" not in listed and "readme" in listed
    assert run(["docs", "notes"]) == 2


def test_path_from_a_working_directory_that_is_gone(copy: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    """review58b: `docs cli --path` in a folder removed since (a shell left in it) was an
    internal error: os.path.relpath's getcwd raised FileNotFoundError."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert run(["docs", "cli", "--path"]) == 0
    assert capsys.readouterr().out == f"{copy / 'cli.md'}\n"


def test_the_help_and_cli_md_name_every_page(capsys: pytest.CaptureFixture[str]) -> None:
    """`docs --help` and docs/cli.md's `docs` section list the pages by hand: a page
    added to docs/ (or one removed) must be listed there too."""
    from flowcheck.doc_files import PAGE_NAMES, pages

    assert list(PAGE_NAMES) == list(pages())
    section = (DOCS / "cli.md").read_text().split("## `docs`", 1)[1].split("\n## ", 1)[0]
    assert all(f"`{name}`" in section for name in PAGE_NAMES)
    assert run(["docs", "--help"]) == 0
    assert " ".join(capsys.readouterr().out.split()).count(", ".join(PAGE_NAMES)) == 1


def test_another_distributions_docs_beside_the_package_are_not_flowchecks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed flowcheck's checkout folder is site-packages/docs, where a package
    that ships its docs as a top-level folder puts its own cli.md (review58b: `flowcheck
    docs` listed that one page, "cli  Another package's CLI"). Only a folder beside a
    pyproject.toml naming flowcheck is the checkout's."""
    import flowcheck.doc_files as doc_files

    site = tmp_path / "site-packages"
    (site / "docs").mkdir(parents=True)
    (site / "docs" / "cli.md").write_text("# Another package's CLI\n")
    monkeypatch.setattr(doc_files, "_CHECKOUT", site / "docs")
    monkeypatch.setattr(doc_files, "_recorded", lambda: None)
    monkeypatch.setattr(doc_files.sys, "prefix", str(tmp_path / "venv"))
    doc_files.doc_dir.cache_clear()
    try:
        assert doc_files.doc_dir() is None
        (site / "pyproject.toml").write_text('[project]\nname = "flowcheck"\n')
        doc_files.doc_dir.cache_clear()
        assert doc_files.doc_dir() == site / "docs"  # a checkout's
    finally:
        doc_files.doc_dir.cache_clear()


def test_the_configuration_page_opens_on_its_example(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """newuser59: 'flowcheck docs configuration', the page the report points to when no
    --config is given, opened on ~50 lines of how values are read before the example.
    The example and what must be set come first now, the rules after; the example is a
    configuration flowcheck takes."""
    from flowcheck.config import build_config, load_file

    assert run(["docs", "configuration"]) == 0
    lines = capsys.readouterr().out.splitlines()
    opening = lines.index("```toml")
    assert opening < 15, lines[:opening]
    assert "What you must set:" in " ".join(lines[:opening])
    assert opening < next(i for i, line in enumerate(lines)
                          if line.startswith("Numbers are read strictly"))
    example = tmp_path / "flowcheck.toml"
    example.write_text("\n".join(lines[opening + 1:lines.index("```", opening)]) + "\n")
    config = build_config(load_file(example))
    assert (config.profile, config.ndmp_port) == ("ndmp", 10000)


def test_a_finding_s_section_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """newuser61: every report points to the findings page, 7,500 lines, and no command
    showed one code's section: `flowcheck docs findings CODE` (or the code alone) shows
    the section from its heading to the next code's; a code documented in two groups
    gives both."""
    assert run(["docs", "findings", "data_unanswered"]) == 0
    section = capsys.readouterr().out
    page = (DOCS / "findings.md").read_text()
    start = page.index("### `data_unanswered`")
    assert section == page[start:page.index("### `data_refused`")].rstrip("\n") + "\n"
    assert run(["docs", "data_unanswered"]) == 0
    assert capsys.readouterr().out == section
    assert run(["docs", "findings", "port_outside_media_range"]) == 0
    assert capsys.readouterr().out.count("### `port_outside_media_range`") == 2


def test_an_unknown_section_names_the_close_ones(capsys: pytest.CaptureFixture[str]
                                                 ) -> None:
    assert run(["docs", "findings", "data_unansered"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("flowcheck: error: no section 'data_unansered' in the "
                                   "page findings: did you mean data_unanswered")
    # A mistyped page is still "no page", not read as a code of the findings page.
    assert run(["docs", "firewall"]) == 2
    assert "no page 'firewall'" in capsys.readouterr().err
    assert run(["docs", "findings", "data_unanswered", "--path"]) == 2
    capsys.readouterr()
    # The page as `flowcheck docs` names it, whatever its file's name (README.md).
    assert run(["docs", "README", "nosuch"]) == 2
    assert "no section 'nosuch' in the page readme:" in capsys.readouterr().err


def test_a_heading_inside_a_fenced_block_is_not_a_section() -> None:
    from flowcheck.doc_files import sections

    page = "# Page\n\n## `a_code`\n\ntext\n```\n## not a heading\n```\nmore\n## next\n"
    assert sections(page, "a_code") == [
        "## `a_code`\n\ntext\n```\n## not a heading\n```\nmore\n"]
    assert sections(page, "not a heading") == []


def test_a_page_longer_than_the_terminal_goes_through_the_pager(tmp_path: Path) -> None:
    """On a terminal the findings page goes through $PAGER (it is longer than any
    screen); on a pipe it is written whole (test_a_page_is_shown_whole)."""
    import os
    import pty

    paged = tmp_path / "paged.md"
    primary, secondary = pty.openpty()
    done = subprocess.run([sys.executable, "-m", "flowcheck", "docs", "findings",
                           "no_control_session"], stdin=secondary, stdout=secondary,
                          stderr=subprocess.PIPE,
                          env={**{k: v for k, v in os.environ.items() if k != "MANPAGER"},
                               "PAGER": f"dd of={paged} status=none"},
                          check=False, timeout=60)
    os.close(secondary)
    os.close(primary)
    assert done.returncode == 0, done.stderr
    assert paged.read_text().startswith("### `no_control_session`\n")
