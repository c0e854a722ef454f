"""The README's first lines are the two commands a new user runs (the brief: "keep them
true"), and `.ci/run` runs exactly the second after installing what the README lists.
These tests hold the three together: the commands as the README gives them, the test
command as .ci/run runs it, the Debian packages both name, and the main job's result on
the bundled capture (exit 1, the failed step and its fix) run as the README runs it, from
the repository's root."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CI_RUN = (ROOT / ".ci" / "run").read_text()


def _first_commands() -> list[str]:
    """The lines of the README's first code block."""
    block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert block is not None, "the README's first lines must be a ```sh block"
    return block.group(1).strip().splitlines()


def _packages(words: str) -> set[str]:
    """The package names among an `apt-get install`'s words, up to the shell's next
    operator or redirection (options left out)."""
    names: set[str] = set()
    for word in words.split():
        if word.startswith("-"):
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", word):
            break
        names.add(word)
    return names


def _readme_packages() -> set[str]:
    """The packages of the README's `apt-get install ...` (in backticks, over lines)."""
    found = re.findall(r"`apt-get install ([^`]*)`", README)
    assert found, "the README must name the Debian packages the tests need"
    return set().union(*map(_packages, found))


def _ci_packages() -> set[str]:
    """The packages of every `apt-get install` line of .ci/run (continuations joined)."""
    lines = CI_RUN.replace("\\\n", " ").splitlines()
    return set().union(*(_packages(line.split("apt-get install", 1)[1])
                         for line in lines if "apt-get install" in line))


def _analyze_part(install: str) -> str:
    """The `flowcheck analyze ...` command of the README's install line."""
    return next(part.strip() for part in install.split("&&")
                if part.strip().startswith("flowcheck "))


def test_the_readme_starts_with_the_install_and_test_commands() -> None:
    install, tests = _first_commands()
    # A virtual environment first: Debian 12's own pip refuses to install outside one
    # (PEP 668), and the test command then runs in it.
    assert install.startswith("python3 -m venv .venv && . .venv/bin/activate && "
                              "pip install . && flowcheck analyze ")
    assert tests == "pip install -e '.[test]' && python -m pytest"
    # The capture and its configuration are in the repository, where the command runs.
    paths = [w for w in shlex.split(_analyze_part(install))[2:] if not w.startswith("-")]
    assert paths and all((ROOT / path).is_file() for path in paths), paths


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    _, tests = _first_commands()
    commands = [line for line in CI_RUN.splitlines() if line and not line.startswith("#")]
    assert commands[-1] == tests


def test_the_readme_names_the_packages_ci_installs() -> None:
    """The README's apt-get line and .ci/run's install the same Debian packages: a test
    that needs a new one must be added in both, or a new machine lacks it."""
    assert _ci_packages() == _readme_packages()
    assert {"tshark", "tcpdump", "amanda-common"} <= _ci_packages()


def test_the_main_job_on_the_bundled_capture_says_what_failed() -> None:
    """The README's first command (its analyze part: the package is installed) from the
    repository's root: verdict fail, exit 1, the failed step, the dropped data connection
    and the rule that fixes it, as the README's next lines promise."""
    install, _ = _first_commands()
    analyze = shlex.split(_analyze_part(install))
    assert analyze[0] == "flowcheck"
    run = subprocess.run([sys.executable, "-m", "flowcheck", *analyze[1:]], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("FAIL  1 session") and "FAILED" in lines[1]
    assert lines[2].strip().startswith("cause: the data connection")
    assert lines[3].strip().startswith("fix:   allow TCP from 10.77.0.1 to 10.77.0.2")
    # The step table: the data connection's step failed, the ones before it ok.
    statuses = [line.split()[0:1] + [word for word in ("ok", "failed", "missing")
                                      if f"  {word}  " in line]
                for line in lines if re.match(r"\d +\S", line)]
    assert statuses[:5] == [["1", "ok"], ["2", "ok"], ["3", "ok"], ["4", "failed"],
                            ["5", "missing"]]
    assert run.stderr == ""
