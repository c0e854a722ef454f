"""`--debug` (contract, "Verdict and exit codes"): an internal error is one line and exit
code 4, its traceback only with --debug, given before the command or after it (or
FLOWCHECK_DEBUG=1); on both of the command line's paths (cli.direct's common lines and
typer's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.cli.main import run

CAPTURE = str(Path(__file__).resolve().parent.parent / "captures" / "ndmjob" / "v4-backup.pcap")


def _broken(*args: object, **kwargs: object) -> int:
    raise RuntimeError("a bug planted by the test")


@pytest.mark.parametrize("argv", [
    ["analyze", CAPTURE],  # cli.direct's path
    ["analyze", CAPTURE, "--format", "json", "--ndmp-port", "10000"],  # typer's
])
def test_an_internal_error_is_one_line_and_exit_4(
        argv: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from flowcheck import pipeline

    monkeypatch.delenv("FLOWCHECK_DEBUG", raising=False)
    monkeypatch.setattr(pipeline, "analyze", _broken)
    assert run(argv) == 4
    err = capsys.readouterr().err
    assert err == ("flowcheck: error: internal error: RuntimeError: a bug planted by the "
                   "test (a bug in flowcheck: --debug shows its traceback; please report "
                   "it with that)\n")
    # --debug before or after the command: the exception itself, not the line.
    for debug in (["--debug", *argv], [*argv, "--debug"]):
        with pytest.raises(RuntimeError, match="a bug planted by the test"):
            run(debug)
    assert run(argv) == 4  # the next run without it: the line again


def test_debug_shows_the_traceback_in_a_real_process(tmp_path: Path) -> None:
    """A process whose run hits a bug: with --debug the traceback on standard error (and
    exit 1, Python's), without it the one line and 4. The bug: pipeline.analyze replaced,
    then the console script's main run."""
    code = ("import flowcheck.pipeline as p\n"
            "def analyze(*a, **k):\n    raise RuntimeError('a bug planted by the test')\n"
            "p.analyze = analyze\n"
            "from flowcheck.cli.main import main\nmain()\n")
    script = tmp_path / "run.py"
    script.write_text(code)
    for debug, status in (([], 4), (["--debug"], 1)):
        done = subprocess.run([sys.executable, str(script), *debug, "analyze", CAPTURE],
                              capture_output=True, text=True, check=False)
        assert done.returncode == status, done.stderr
        if debug:
            assert "Traceback (most recent call last)" in done.stderr
            assert done.stderr.rstrip().endswith("RuntimeError: a bug planted by the test")
        else:
            assert done.stderr.count("\n") == 1 and "--debug shows" in done.stderr


def test_a_file_after_double_dash_named_debug_is_a_file(tmp_path: Path) -> None:
    """`--debug` is taken out only before `--`: after it, a capture of that name."""
    (tmp_path / "--debug").write_bytes(Path(CAPTURE).read_bytes())
    done = subprocess.run([sys.executable, "-m", "flowcheck", "connections", "--", "--debug"],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 TCP connections" in done.stdout
