"""Escape sequences on a terminal (trial 20 D15): NO_COLOR (no-color.org) leaves none in
the report, bold and dim included; the progress line's rate is the bytes read per
second of the run, in the unit it prints."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest

from flowcheck.cli.output import make_console
from flowcheck.sources.progress import ByteProgress

SGR = re.compile(r"\x1b\[[0-9;]*m")  # a colour or a style (bold, dim)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _report(monkeypatch: pytest.MonkeyPatch) -> str:
    out = _Terminal()
    monkeypatch.setattr("sys.stdout", out)
    console = make_console()
    console.print("[bold]PASS[/bold] [dim]sessions: 1[/dim] [red]FAILED[/red]")
    return out.getvalue()


def test_a_terminal_report_is_styled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert SGR.search(_report(monkeypatch))


def test_no_color_leaves_no_escape_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    text = _report(monkeypatch)
    assert "\x1b" not in text and "PASS sessions: 1 FAILED" in text


def test_an_empty_no_color_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "")
    monkeypatch.setenv("TERM", "xterm-256color")
    assert SGR.search(_report(monkeypatch))


def _progress_line(monkeypatch: pytest.MonkeyPatch) -> str:
    err = _Terminal()
    monkeypatch.setattr("sys.stderr", err)
    clock = {"now": 100.0}
    monkeypatch.setattr("flowcheck.sources.progress.time",
                        SimpleNamespace(monotonic=lambda: clock["now"]))
    done = {"bytes": 0, "packets": 0}
    progress = ByteProgress(1_000_000, lambda: done["bytes"], lambda: done["packets"])
    clock["now"] += 2.0  # the whole file read at once, 2 s into the run
    done.update(bytes=1_000_000, packets=5000)
    progress.update()
    progress.close()
    return SGR.sub("", err.getvalue())


def test_the_rate_is_the_bytes_read_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    line = _progress_line(monkeypatch)
    # 1 MB in 2 s: 500 kB/s (rich's own estimate gave "0 bytes/s" for one jump)
    assert re.search(r"\b500\.0 kB/s", line), line
    assert re.search(r"\b2,500 packets/s", line), line


def test_no_color_progress_has_no_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    err = _Terminal()
    monkeypatch.setattr("sys.stderr", err)
    progress = ByteProgress(100, lambda: 100)
    progress.update()
    progress.close()
    assert "reading" in err.getvalue() and not SGR.search(err.getvalue())
