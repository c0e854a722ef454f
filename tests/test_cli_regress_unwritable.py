"""`regress --update` whose expected result cannot be written exits 2, as every command
does for an output it cannot write (`--junit`, `--html`, `live --write`; the contract's
3 is an input that cannot be read), not 3 (new-user trial). A real run of `python -m
flowcheck` in a mount namespace where the cases' folder is a read-only bind mount:
root writes through file permissions, not through a read-only file system."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"

pytestmark = pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")


def _read_only_regress(folder: Path, *argv: str) -> subprocess.CompletedProcess:
    script = ('mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && '
              'exec "$@"')
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(folder), sys.executable, "-m",
         "flowcheck", "regress", str(folder), *argv],
        capture_output=True, text=True, timeout=300, check=False)


def _cases(folder: Path, changed: bool) -> None:
    folder.mkdir()
    for name in ("v3-backup.pcap", "v3-backup.expected.json", "flowcheck.toml"):
        shutil.copy(CAPTURES / name, folder / name)
    if changed:
        expected = folder / "v3-backup.expected.json"
        expected.write_text(expected.read_text().replace('"pass"', '"fail"'))


def test_an_expected_result_that_cannot_be_written_is_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    _cases(folder, changed=True)
    result = _read_only_regress(folder, "--update", "--format", "json")
    assert result.returncode == 2, result.stderr
    [case] = json.loads(result.stdout)["cases"]
    assert case["status"] == "error"
    assert case["error"].endswith("v3-backup.expected.json: cannot write the expected "
                                  "result (Read-only file system)")
    assert '"fail"' in (folder / "v3-backup.expected.json").read_text()  # left as it was

