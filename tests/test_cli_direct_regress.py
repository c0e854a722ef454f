"""`flowcheck regress` without typer (flowcheck.cli.direct_regress): its common command
lines give typer's lines, documents, JUnit, expected files and exit codes (the same
request in a form only typer reads: `--name=VALUE`, or the paths after `--`); the rest
is left to typer; and neither typer nor pydantic is loaded for it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from import_listing import modules_imported

from flowcheck.cli.direct import direct_call
from flowcheck.cli.main import run

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
SMALL = ("v4-swap-refused", "v4-backup-media-firewall-drop")  # captures/ndmjob, 2 KB each


def _cases(folder: Path) -> Path:
    """Two small stored cases of captures/ndmjob (their captures, expected results and
    the folder's flowcheck.toml) copied into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SMALL:
        for suffix in (".pcap", ".expected.json"):
            shutil.copy(CAPTURES / "ndmjob" / f"{name}{suffix}", folder / f"{name}{suffix}")
    shutil.copy(CAPTURES / "ndmjob" / "flowcheck.toml", folder / "flowcheck.toml")
    return folder


def _timeless(text: str) -> str:
    """`text` with the run's times (JSON `seconds`, JUnit `time`) taken out."""
    return re.sub(r'("seconds": |time=")[0-9.e-]+', r"\1T", text)


def _typer_form(argv: list[str]) -> list[str]:
    """argv's request as only typer reads it: `--name=VALUE`, the paths after `--`."""
    words, options, paths = iter(argv[1:]), [], []
    for word in words:
        if word == "--update":
            options.append(word)
        elif word.startswith("--"):
            options.append(f"{word}={next(words)}")
        else:
            paths.append(word)
    return [argv[0], *options, "--", *paths]


# {cases}: the folder of _cases; {junit}: a JUnit file beside it.
TAKEN = [
    ["regress", "{cases}"],
    ["regress", "{cases}/v4-swap-refused.pcap", "--format", "json"],
    ["regress", "--junit", "{junit}", "{cases}", "--format", "table"],
    ["regress", "{cases}", "--junit", "-"],
    ["regress", "{cases}", "--update", "--format", "json"],
    ["regress", "{cases}", "--junit", "-", "--format", "json"],  # refused: both on stdout
    ["regress", "{cases}/no-such.pcap"],  # a path missing: exit 3
    ["regress", "{cases}", "--junit", "{cases}/new-dir/j.xml"],  # its folder made
    ["regress", "{cases}", "--junit", "/proc/no-such/j.xml"],  # exit 2, before a case
]


@pytest.mark.parametrize("argv", TAKEN, ids=range(len(TAKEN)))
def test_direct_regress_same_as_typer(argv: list[str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    results = []
    folder = tmp_path / "run"
    for path in ("direct", "typer"):
        shutil.rmtree(folder, ignore_errors=True)
        cases = _cases(folder / "cases")
        # An expectation changed: the run exits 1, and --update rewrites it.
        changed = cases / "v4-backup-media-firewall-drop.expected.json"
        changed.write_text(changed.read_text().replace('"fail"', '"pass"', 1))
        words = [word.format(cases=cases, junit=folder / "j.xml") for word in argv]
        if path == "typer":
            words = _typer_form(words)
        assert (direct_call(words) is not None) == (path == "direct")
        code = run(words)
        out, err = capsys.readouterr()
        files = {p.relative_to(folder): _timeless(p.read_text())
                 for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix != ".pcap"}
        results.append((code, _timeless(out), _timeless(err), files))
    assert results[0] == results[1]
    assert results[0][0] in (0, 1, 2, 3)


@pytest.mark.parametrize("argv", [
    ["regress", "--help"], ["regress", "-h"], ["regress", "--format", "JSON"],
    ["regress", "--format"], ["regress", "--update", "--update"],
    ["regress", "--format", "json", "--format", "table"], ["regress", "--junit"],
    ["regress", "--junit", "."], ["regress", "--junit", "a.xml", "--junit", "b.xml"],
    ["regress", "-"], ["regress", "--format=json"], ["regress", "--", "captures"],
    ["regress", "captures", "--no-such-option"]])
def test_other_regress_command_lines_left_to_typer(argv: list[str]) -> None:
    assert direct_call(argv) is None


def test_no_typer_for_regress(tmp_path: Path) -> None:
    """A regress of a stored case ran without typer or pydantic."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flowcheck", "regress",
         str(_cases(tmp_path / "cases")), "--format", "json"], capture_output=True,
        text=True, env=env, cwd=tmp_path, timeout=120)
    modules = modules_imported(result.stderr)
    assert result.returncode == 0 and '"cases"' in result.stdout, result.stderr[-2000:]
    assert "flowcheck.cli.regress_run" in modules
    assert not modules & {"typer", "click", "pydantic", "flowcheck.cli.app"}


def test_junit_dash_beside_a_folder_named_dash(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """With a folder named `-` in the current one, typer checks `--junit -` as a file
    name ("file '-' is a directory", exit 2) where the direct path wrote the XML
    (review54e's fuzzing): that `-` is left to typer; without the folder it is taken."""
    monkeypatch.chdir(tmp_path)
    argv = ["regress", str(_cases(tmp_path / "cases")), "--junit", "-"]
    assert direct_call(argv) is not None
    (tmp_path / "-").mkdir()
    assert direct_call(argv) is None
    code = run(argv)
    out, err = capsys.readouterr()
    assert (run(_typer_form(argv)), *capsys.readouterr()) == (code, out, err)
    assert code == 2 and not out, err
