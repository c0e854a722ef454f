"""A finding's text as it is printed (trial 20 D19): the lines a long message or fix
wraps onto are indented under it (piped, 200 columns, and on a narrow terminal), `ndmp`
prints a finding's fix as `analyze` does, and a snap length that kept no payload says
so in words."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from flowcheck.cli.main import run
from flowcheck.report.hanging import print_hanging

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _findings_lines(text: str) -> list[str]:
    return text[text.index("\nFindings ("):].splitlines()[2:]


def test_piped_finding_lines_are_indented(capsys: pytest.CaptureFixture[str]) -> None:
    run(["analyze", str(LAB / "data-port-dropped.pcap"), "--config",
         str(LAB / "data-port-dropped.toml")])
    lines = _findings_lines(capsys.readouterr().out)
    assert any(len(line) > 150 for line in lines)  # the message does wrap at 200
    for line in lines:
        assert line.startswith(("ERROR ", "WARNING ", "INFO ", "  ")), line
    # The fix is under the verdict; the rest of it wraps under its label's first word.
    assert "  Fix: as under the verdict (S1)." in lines
    more = [n for n, line in enumerate(lines) if line.startswith("  Also: ")]
    assert more and lines[more[0] + 1].startswith(" " * 8) and lines[more[0] + 1][8] != " "


def test_hanging_lines_fit_and_keep_every_word() -> None:
    console = Console(record=True, width=40, color_system=None)
    words = "the data connection from 10.77.0.1 to 10.77.0.2:6001 was never answered " * 3
    print_hanging(console, "  Fix: ", words, indent=7)
    lines = console.export_text().splitlines()
    assert lines[0].startswith("  Fix: the data")
    assert all(len(line) <= 40 and line == line.rstrip() for line in lines)
    assert all(line.startswith("       ") and line[7] != " " for line in lines[1:])
    assert " ".join(line.strip() for line in lines).replace("Fix: ", "", 1) == words.strip()


def test_ndmp_prints_the_fix_and_says_no_payload_was_kept(
        capsys: pytest.CaptureFixture[str]) -> None:
    run(["ndmp", str(LAB / "snaplen-54.pcap")])
    out = capsys.readouterr().out
    assert "first 0 bytes" not in out
    assert "kept only the packets' headers, none of their TCP payload" in out
    assert "\n  Fix: Capture with the full snap length: tcpdump -s 0" in out
    warning = out[out.index("warning ndmp_partial"):].splitlines()
    assert all(line.startswith("  ") for line in warning[1:] if line), warning


def test_a_backticked_command_is_not_broken_across_lines_where_it_fits() -> None:
    """Recheck N4: `ss -tanp` / `'sport = :6001'` on two lines did not run when copied."""
    command = "`ss -tanp 'sport = :6001'`"
    words = ("Find what holds TCP 6001 on 10.77.0.2 with a command such as " + command +
             " on Linux and stop it, or widen the agent range when it was set by you.")
    for lead in range(0, 40, 3):
        console = Console(record=True, width=60, color_system=None)
        print_hanging(console, "  Fix: " + "x" * lead, words, indent=7)
        out = console.export_text()
        assert command in out, out
        assert max(len(line) for line in out.splitlines()) <= 60
