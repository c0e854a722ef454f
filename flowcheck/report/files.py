"""Writing a rendered report to the file an option names."""

from __future__ import annotations

from pathlib import Path

from flowcheck.errors import UsageError


def write_report_file(path: str | Path, text: str, option: str) -> None:
    """Write `text` (UTF-8) to `path`; UsageError naming `option` (e.g. "--html") when the
    file cannot be written (a missing folder, no permission)."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None


def check_report_file(path: str | Path, option: str) -> None:
    """UsageError naming `option` unless `path` can be written (checked before a long
    capture, so its report is not lost at the end); a file made for the test is removed."""
    target = Path(path)
    existed = target.exists()
    try:
        with target.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None
    if not existed:
        target.unlink(missing_ok=True)
