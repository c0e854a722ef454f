"""`regress --junit`: XML that CI servers can parse, whatever the captures are named, and a
report path that cannot be written refused before any case runs (trial 16, D2 and D3)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _regress(*args: str, encoding: str = "utf-8:surrogateescape",
             cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a process of its own, its standard streams in `encoding` (Python's in
    the C.UTF-8 locale: surrogateescape; in other UTF-8 locales: strict)."""
    return subprocess.run([sys.executable, "-m", "flowcheck", "regress", *args],
                          capture_output=True, env={**os.environ, "PYTHONIOENCODING": encoding},
                          check=False, timeout=120, cwd=cwd)


def _case(folder: Path, stem: bytes) -> None:
    """The lab's clean-3-resources capture and its configuration under the name `stem`
    (bytes: a name that is not UTF-8 is what Linux allows)."""
    for suffix in (".pcap", ".toml"):
        shutil.copy(CAPTURES / "lab" / f"clean-3-resources{suffix}",
                    os.fsdecode(os.fsencode(folder) + b"/" + stem + suffix.encode()))


def test_junit_names_that_are_not_utf8_or_hold_control_characters_stay_well_formed(
        tmp_path: Path) -> None:
    """A byte that is not UTF-8 (Latin-1 é) and control characters in a capture's name:
    the report parses (Jenkins and GitLab drop one that does not), each such byte shown
    as `\\xNN`; before, a lone surrogate (`&#56553;`) or the raw byte was written."""
    _case(tmp_path, b"lat\xe9")
    _case(tmp_path, b"ctl\x01\x1b\xff\tx")
    junit = tmp_path / "junit.xml"
    result = _regress(str(tmp_path), "--junit", str(junit))
    assert result.returncode == 1, result.stderr  # no expected results yet
    names = sorted((case.get("classname", ""), case.get("name", ""))
                   for case in ET.parse(junit).iter("testcase"))
    folder = str(tmp_path).lstrip("/").replace("/", ".")
    assert names == [(f"{folder}.ctl\\x01\\x1b\\xff\\x09x", "ctl\\x01\\x1b\\xff\\x09x.pcap"),
                     (f"{folder}.lat\\xe9", "lat\\xe9.pcap")]


def test_junit_error_text_naming_such_a_file_stays_well_formed(tmp_path: Path) -> None:
    """A case that cannot be judged: its `<error>` text names the file (here a bad
    NAME.toml), with the same escapes."""
    _case(tmp_path, b"bad\xfe")
    toml = os.fsencode(tmp_path) + b"/bad\xfe.toml"
    Path(os.fsdecode(toml)).write_text("bogus_key = 1\n")
    junit = tmp_path / "junit.xml"
    result = _regress(str(tmp_path), "--junit", str(junit))
    assert result.returncode == 2, result.stderr
    (error,) = ET.parse(junit).iter("error")
    assert "bad\\xfe.toml" in (error.text or "")


def test_lines_name_such_a_file_escaped_on_a_strict_utf8_stream(tmp_path: Path) -> None:
    """In a UTF-8 locale Python's standard output is strict: the case line with the raw
    name was an internal error (exit 4) before anything else was printed."""
    _case(tmp_path, b"lat\xe9")
    result = _regress(str(tmp_path), encoding="utf-8")
    assert result.returncode == 1, result.stderr
    assert f"CHANGED {tmp_path}/lat\\xe9.pcap (verdict pass)".encode() in result.stdout


# Without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, even as root: what a CI user has.
NO_OVERRIDE = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
@pytest.mark.parametrize("report", ["j.xml", "sub/j.xml"])
def test_a_junit_file_that_cannot_be_written_is_a_usage_error_before_any_case(
        tmp_path: Path, report: str) -> None:
    """A read-only working directory (the file, or a folder it must make): one line
    naming --junit and exit 2, as analyze's --html, before any case runs (no case line);
    it was exit 4, "internal error: PermissionError", after every case."""
    _case(tmp_path, b"clean")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    result = subprocess.run(
        [*NO_OVERRIDE, sys.executable, "-m", "flowcheck", "regress", str(tmp_path / "clean.pcap"),
         "--junit", report], capture_output=True, text=True, cwd=readonly, check=False,
        timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr == \
        f"flowcheck: error: --junit {report}: cannot write (Permission denied)\n"
    assert result.stdout == ""  # no case ran
    assert list(readonly.iterdir()) == []


def test_a_junit_file_under_a_file_is_a_usage_error(tmp_path: Path) -> None:
    _case(tmp_path, b"clean")
    (tmp_path / "file").write_text("")
    result = _regress(str(tmp_path / "clean.pcap"), "--junit", "file/j.xml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(b"flowcheck: error: --junit file/j.xml: cannot write (")
    assert result.stdout == b""


def test_a_writable_junit_path_is_checked_without_a_trace(tmp_path: Path) -> None:
    """The check leaves nothing behind: an existing report stays until the new one is
    written; the folder is made (documented), the file only by the report."""
    _case(tmp_path, b"clean")
    result = _regress(str(tmp_path / "clean.pcap"), "--junit", "reports/j.xml",
                      cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    ET.parse(tmp_path / "reports" / "j.xml")
