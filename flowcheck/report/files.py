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
