"""The suite's signal hygiene (tests/child_signals.py, tests/conftest.py): a test that
leaves its worker's SIGINT disposition or signal mask changed fails, and the tests that
interrupt a child with SIGINT pass however pytest was started (a shell without job
control starts `python -m pytest > log &` ignoring SIGINT: the full suite's four
failures). Each runs a pytest of its own, started with SIGINT as given."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from child_signals import sigint_as_default

TESTS = Path(__file__).resolve().parent

LEAVING = '''
import signal

def test_leaves_sigint_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)

def test_leaves_sigint_blocked():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

def test_starts_as_the_first_did():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])

def test_puts_back_what_it_changed():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGINT, previous)
'''


def _ignore_sigint() -> None:
    """In the forked child before exec: SIGINT ignored, as `cmd &` in a script starts it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pytest(args: list[str], cwd: Path, preexec: object) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-n", "0", "-rA", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=600,
                          preexec_fn=preexec)  # type: ignore[arg-type]


def _suite(tmp_path: Path) -> Path:
    """A folder of tests with the real tests/conftest.py beside them."""
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_leaving.py").write_text(LEAVING)
    return tmp_path


def test_a_test_that_leaves_sigint_changed_fails(tmp_path: Path) -> None:
    result = _pytest(["test_leaving.py"], _suite(tmp_path), sigint_as_default)
    failed = sorted(line.split()[1] for line in result.stdout.splitlines()
                    if line.startswith("ERROR "))
    assert failed == ["test_leaving.py::test_leaves_sigint_blocked",
                      "test_leaving.py::test_leaves_sigint_ignored"], result.stdout
    assert "SIGINT=SIG_IGN" in result.stdout and "blocked=[SIGINT]" in result.stdout
    # Put back before the next test: it starts as the first did.
    assert "PASSED test_leaving.py::test_starts_as_the_first_did" in result.stdout
    assert "PASSED test_leaving.py::test_puts_back_what_it_changed" in result.stdout


def test_a_run_started_with_sigint_as_default_says_nothing_of_it(tmp_path: Path) -> None:
    """The header's `signals:` line only for a run started otherwise: a run started
    ignoring SIGINT says so (returncode 0 and "signals: SIGINT=SIG_IGN") in
    test_a_child_interrupted_by_sigint_from_a_run_started_ignoring_it below, with the
    same conftest (was asserted here too, on a run of its own)."""
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    default = _pytest(["test_nothing.py"], tmp_path, sigint_as_default)
    assert default.returncode == 0 and "signals:" not in default.stdout, default.stdout


def test_a_child_interrupted_by_sigint_from_a_run_started_ignoring_it() -> None:
    """test_cli_edges' Ctrl-C case from a pytest started as `python -m pytest &` in a
    script: the child (flowcheck analyze) still ends as interrupted (the full suite's
    failure, "the capture holds no packets": it ignored the SIGINT)."""
    case = "test_cli_edges.py::test_sigterm_interrupts_a_command_as_ctrl_c_does[2-analyze]"
    result = _pytest([str(TESTS / case)], TESTS.parent, _ignore_sigint)
    assert "signals: SIGINT=SIG_IGN" in result.stdout
    assert result.returncode == 0, result.stdout
